"""The users service's cache of user summaries, which other services read too: a tweet's author
or a page of followers is hydrated from Redis, and the users service is asked only for what the
cache misses (``BasicUsers``).

``chirp:users:user:<id>``: a hash, ``user`` = the serialized BASIC ``chirp.users.v1.User`` (what
``BatchGetUsers`` answers with the BASIC view), ``version`` = its ``update_time`` in
milliseconds. Only the users service writes it, never over a newer version, when an account is
created, updated or read through it; entries expire an hour after their last write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog
from chirp.users.v1 import user_pb2
from redis.exceptions import RedisError

from services.platform import metrics
from services.platform.resp import RespClient

#: BatchGetUsers takes at most this many ids per call.
BATCH = 100

log = structlog.get_logger()


def user_key(user_id: int) -> str:
    return f"chirp:users:user:{user_id}"


async def read_cached(redis: RespClient, user_ids: Sequence[int]) -> dict[int, tuple[int, bytes]]:
    """The cached entries of those users that have one: version and serialized summary, in one
    round trip. Redis errors reach the caller."""
    if not user_ids:
        return {}
    entries = await redis.pipeline(
        [("HMGET", user_key(user_id), "version", "user") for user_id in user_ids]
    )
    found = {
        user_id: (int(version), payload)
        for user_id, (version, payload) in zip(user_ids, entries, strict=True)
        if version is not None and payload is not None
    }
    metrics.looked_up("users", len(found), len(user_ids) - len(found))
    return found


class BasicUsers:
    """BASIC user summaries for services other than users: from the cache itself, and from
    ``fetch`` (the caller's ``BatchGetUsers``, which fills the cache; at most ``BATCH`` ids a
    call, its failures the caller's to map) only for what it misses. Redis failing means asking
    the users service for all of them."""

    def __init__(
        self, redis: RespClient, fetch: Callable[[list[int]], Awaitable[Sequence[user_pb2.User]]]
    ) -> None:
        self._redis = redis
        self._fetch = fetch

    async def get(self, user_ids: Sequence[int]) -> dict[int, user_pb2.User]:
        unique = list(dict.fromkeys(user_ids))
        cached = await self._cached(unique)
        found = {user_id: user_pb2.User.FromString(payload) for user_id, payload in cached.items()}
        found.update(await self._fetched([user_id for user_id in unique if user_id not in found]))
        return found

    async def serialized(self, user_ids: Sequence[int]) -> dict[int, bytes]:
        """``get``'s summaries serialized, ready to send: the cache's bytes as they are (a page
        of them is assembled with ``wire.repeated``, never decoded and encoded again)."""
        unique = list(dict.fromkeys(user_ids))
        found = await self._cached(unique)
        fetched = await self._fetched([user_id for user_id in unique if user_id not in found])
        found.update((user_id, user.SerializeToString()) for user_id, user in fetched.items())
        return found

    async def _cached(self, unique: list[int]) -> dict[int, bytes]:
        try:
            cached = await read_cached(self._redis, unique)
        except RedisError:
            log.warning("user cache read failed; asking the users service", exc_info=True)
            return {}
        return {user_id: payload for user_id, (_, payload) in cached.items()}

    async def _fetched(self, missing: list[int]) -> dict[int, user_pb2.User]:
        found: dict[int, user_pb2.User] = {}
        for start in range(0, len(missing), BATCH):
            found.update(
                (user.id, user) for user in await self._fetch(missing[start : start + BATCH])
            )
        return found
