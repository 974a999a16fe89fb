"""The Redis cache of user summaries (BASIC ``chirp.users.v1.User`` protobufs) and of ids by
folded username.

Keys:

* ``chirp:users:user:<id>``: a hash, ``user`` = the serialized BASIC User, ``version`` = its
  ``update_time`` in milliseconds; kept ``USER_TTL_SECONDS`` after its last write.
* ``chirp:users:id:<folded username>``: the id as a decimal string; usernames never change and
  accounts are never deleted, so this only expires to bound memory (``ID_TTL_SECONDS``).

A write never replaces a newer version: a read-through fill that loaded an account just before
an update cannot overwrite the update's entry. Redis is only a cache: when it fails, reads miss
and writes are skipped (with a warning), and the store answers. Its client (``cache_client``)
therefore fails fast instead of retrying for seconds as a default client does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import structlog
from chirp.users.v1 import user_pb2
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.users import convert
from services.users.accounts import User

USER_TTL_SECONDS = 3600
ID_TTL_SECONDS = 24 * 3600
#: How long one cache round trip may take before the store is asked instead.
TIMEOUT_SECONDS = 0.5

log = structlog.get_logger()

# Writes the entry unless the cached one has a higher version; refreshes its TTL either way
# when it wrote.
_PUT_IF_NEWER = """
local cached = redis.call('HGET', KEYS[1], 'version')
if cached and tonumber(cached) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'user', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def user_key(user_id: int) -> str:
    return f"chirp:users:user:{user_id}"


def id_key(username_folded: str) -> str:
    return f"chirp:users:id:{username_folded}"


def cache_client(url: str) -> Redis:
    """A Redis client for the cache: one quick retry, then a miss."""
    return Redis.from_url(
        url,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), retries=1),
    )


class RedisUserCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._put_if_newer = redis.register_script(_PUT_IF_NEWER)

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        if not user_ids:
            return {}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    pipe.hmget(user_key(user_id), ["version", "user"])
                entries = await pipe.execute()
        except RedisError:
            log.warning("user cache read failed; reading the store", exc_info=True)
            return {}
        found = {}
        for version, payload in entries:
            if version is None or payload is None:
                continue
            update_time = datetime.fromtimestamp(int(version) / 1000, UTC)
            user = convert.from_basic(user_pb2.User.FromString(payload), update_time)
            found[user.id] = user
        return found

    async def put_many(self, users: Sequence[User]) -> None:
        if not users:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user in users:
                    version = int(user.update_time.timestamp() * 1000)
                    payload = convert.basic(user).SerializeToString()
                    await self._put_if_newer(
                        keys=[user_key(user.id)],
                        args=[version, payload, USER_TTL_SECONDS],
                        client=pipe,
                    )
                await pipe.execute()
        except RedisError:
            log.warning("user cache write failed; entries expire on their own", exc_info=True)

    async def get_ids(self, usernames_folded: Sequence[str]) -> dict[str, int]:
        if not usernames_folded:
            return {}
        try:
            values = await self._redis.mget([id_key(name) for name in usernames_folded])
        except RedisError:
            log.warning("user id cache read failed; reading the store", exc_info=True)
            return {}
        return {
            name: int(value)
            for name, value in zip(usernames_folded, values, strict=True)
            if value is not None
        }

    async def put_ids(self, ids: Mapping[str, int]) -> None:
        if not ids:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name, user_id in ids.items():
                    pipe.set(id_key(name), user_id, ex=ID_TTL_SECONDS)
                await pipe.execute()
        except RedisError:
            log.warning("user id cache write failed", exc_info=True)
