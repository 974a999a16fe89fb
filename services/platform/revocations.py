"""Accounts whose session tokens are refused before they expire: deleted accounts.

Every service verifies tokens itself, without calling the users service, so ending an account's
sessions early takes a list that every process checks. The users service writes each revocation
twice: with the account's deletion, in Cassandra (its record, kept as long as a token issued
before the deletion can live), and in the Redis sorted set ``chirp:accounts:revoked`` (member:
the account id; score: when its last token expires, in Unix seconds). Every process reads that
set into memory every ``REFRESH_SECONDS`` (``RevokedAccounts.follow``), and ``TokenVerifier``
looks the caller up there: a deleted account's tokens are refused everywhere within about a
second, at the cost of a set lookup per request. If Redis loses the set, the users service
writes it again from its record within ``REASSERT_SECONDS``; while Redis is down every process
keeps the list it last read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import structlog
from redis.exceptions import RedisError

from services.platform.background import pause, rounds
from services.platform.resp import RespClient

KEY = "chirp:accounts:revoked"
#: How often every process reads the list.
REFRESH_SECONDS = 1.0
#: How often the users service writes its record of revocations into Redis again.
REASSERT_SECONDS = 10.0

log = structlog.get_logger()


async def revoke(redis: RespClient, until: Mapping[int, float]) -> None:
    """Adds the accounts to the list, each until the Unix time given (a later time wins), and
    drops the entries whose time has passed."""
    if not until:
        return
    members = [value for user_id, moment in until.items() for value in (moment, user_id)]
    await redis.pipeline(
        [("ZADD", KEY, "GT", *members), ("ZREMRANGEBYSCORE", KEY, "-inf", f"({time.time()}")]
    )


class RevokedAccounts:
    """The ids of revoked accounts, as this process last read them."""

    def __init__(self) -> None:
        self._ids: frozenset[int] = frozenset()

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._ids

    async def refresh(self, redis: RespClient) -> None:
        """Reads the accounts still revoked; Redis errors reach the caller."""
        members = await redis.call("ZRANGEBYSCORE", KEY, f"({time.time()}", "+inf")
        self._ids = frozenset(int(member) for member in members)

    async def follow(self, redis: RespClient, every_seconds: float = REFRESH_SECONDS) -> None:
        """Refreshes the list every ``every_seconds`` until cancelled."""
        for _ in rounds():
            try:
                await self.refresh(redis)
            except RedisError:
                log.warning("could not read the revoked accounts; keeping the last list")
            await pause(every_seconds)


#: This process's list: the server follows it (``server.serve``), the token check and the
#: username lookups (``usernames.UsernameIds``) consult it.
REVOKED = RevokedAccounts()
