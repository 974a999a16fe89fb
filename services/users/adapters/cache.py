"""The Redis cache of user summaries (BASIC ``chirp.users.v1.User`` protobufs), of ids by
folded username, and of the counts and relationships of profiles (``RedisSocialCache``).

Keys:

* ``chirp:users:user:<id>``: a hash, ``user`` = the serialized BASIC User, ``version`` = its
  ``update_time`` in milliseconds; kept ``USER_TTL_SECONDS`` after its last write. Other
  services read it too (``services/platform/caches/user_cache.py``, the contract).
* ``chirp:users:id:<folded username>``: the id as a decimal string; usernames never change, so
  this only expires to bound memory (``ID_TTL_SECONDS``), or goes with its deleted account.

A deleted account's summary is dropped and its entry kept ``USER_TTL_SECONDS`` as a tombstone
(no summary, the highest version), so a read-through fill that loaded the account just before
the delete cannot cache it again; its id and counts entries are dropped (its relationships with
callers expire within ``SOCIAL_TTL_SECONDS``; they hold two ids and two flags).

A write never replaces a newer version: a read-through fill that loaded an account just before
an update cannot overwrite the update's entry. Redis is only a cache: when it fails, reads miss
and writes are skipped (with a warning), and the store answers. Its client (``cache_client``)
therefore gives up after ``TIMEOUT_SECONDS`` (0.5 s), where the other clients wait 5 s.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

import structlog
from chirp.users.v1 import user_pb2
from redis.exceptions import RedisError

from services.platform.caches.changes import Kept, read_through, set_all
from services.platform.caches.followings import followers_changes, followings_changes
from services.platform.caches.timeline_writes import timeline_writes
from services.platform.caches.user_cache import read_cached, user_key
from services.platform.redis_clients import resp_client
from services.platform.resp import RespClient, Script
from services.platform.usernames import fold
from services.users import convert
from services.users.model import Counts, Relationship, User
from services.users.ports import SocialCounts

USER_TTL_SECONDS = 3600
#: How long a profile's counts or a relationship is kept; far shorter than the change counts it
#: is kept under live (``services/platform/caches/changes.py``), and the longest a change whose
#: count was lost to a Redis failure can stay unseen.
SOCIAL_TTL_SECONDS = 600
ID_TTL_SECONDS = 24 * 3600
#: How long one cache round trip may take before the store is asked instead.
TIMEOUT_SECONDS = 0.5

log = structlog.get_logger()

# Writes the entry unless the cached one has a higher version; refreshes its TTL either way
# when it wrote.
_PUT_IF_NEWER = Script("""
local cached = redis.call('HGET', KEYS[1], 'version')
if cached and tonumber(cached) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'user', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
""")


# A deleted account's entry: its summary dropped, its version set above any account's, so a
# fill that read the account before the delete cannot cache it again (_PUT_IF_NEWER).
_FORGET = Script("""
redis.call('HDEL', KEYS[1], 'user')
redis.call('HSET', KEYS[1], 'version', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
""")
_DELETED_VERSION = 2**63 - 1


def id_key(username_folded: str) -> str:
    return f"chirp:users:id:{username_folded}"


def cache_client(url: str) -> RespClient:
    """A Redis client for the cache: a miss after ``TIMEOUT_SECONDS`` (on a cluster, its
    retries through a failover included)."""
    return resp_client(url, timeout=TIMEOUT_SECONDS)


class RedisUserCache:
    def __init__(self, redis: RespClient) -> None:
        self._redis = redis

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        try:
            cached = await read_cached(self._redis, user_ids)
        except RedisError:
            log.warning("user cache read failed; reading the store", exc_info=True)
            return {}
        return {
            user_id: convert.from_basic(
                user_pb2.User.FromString(payload), datetime.fromtimestamp(version / 1000, UTC)
            )
            for user_id, (version, payload) in cached.items()
        }

    async def put_many(self, users: Sequence[User]) -> None:
        if not users:
            return
        try:
            await self._redis.run_each(
                _PUT_IF_NEWER,
                [
                    (
                        [user_key(user.id)],
                        [
                            int(user.update_time.timestamp() * 1000),
                            convert.basic(user).SerializeToString(),
                            USER_TTL_SECONDS,
                        ],
                    )
                    for user in users
                ],
            )
        except RedisError:
            log.warning("user cache write failed; entries expire on their own", exc_info=True)

    async def get_ids(self, usernames_folded: Sequence[str]) -> dict[str, int]:
        if not usernames_folded:
            return {}
        try:
            values = await self._redis.call("MGET", *map(id_key, usernames_folded))
        except RedisError:
            log.warning("user id cache read failed; reading the store", exc_info=True)
            return {}
        return {
            name: int(value)
            for name, value in zip(usernames_folded, values, strict=True)
            if value is not None
        }

    async def put_ids(self, ids: Mapping[str, int]) -> None:
        await set_all(
            self._redis, {id_key(name): user_id for name, user_id in ids.items()}, ID_TTL_SECONDS
        )

    async def forget(self, user: User) -> None:
        try:
            await self._redis.run(
                _FORGET, [user_key(user.id)], [_DELETED_VERSION, USER_TTL_SECONDS]
            )
            await self._redis.pipeline(
                [("DEL", id_key(fold(user.username))), ("DEL", counts_key(user.id))]
            )
        except RedisError:
            log.warning("user cache forget failed; entries expire on their own", exc_info=True)


def counts_key(user_id: int) -> str:
    return f"chirp:users:counts:{user_id}"


def relationship_key(caller_id: int, user_id: int) -> str:
    return f"chirp:users:relationship:{caller_id}:{user_id}"


# A profile's counts under its user's followings, followers and timeline changes.
_COUNTS = Kept[Counts](
    "profile_counts",
    struct.Struct(">qqqqqq"),
    3,
    lambda counts: (counts.follower_count, counts.following_count, counts.tweet_count),
    lambda fields: Counts(*fields),
)
# A relationship under the caller's and the user's followings changes.
_RELATIONSHIP = Kept[Relationship](
    "relationships",
    struct.Struct(">qq??"),
    2,
    lambda relationship: (relationship.caller_follows, relationship.follows_caller),
    lambda fields: Relationship(*fields),
)


class RedisSocialCache:
    """Counts and relationships from ``source`` (the services that own them), kept in Redis
    so a profile read does not call them. Each copy is kept with the counts of changes it was
    read after: a profile's counts under its user's followings, followers and timeline changes
    (``services/platform/caches/followings.py``, ``timeline_writes.py``), a relationship under both
    users' followings changes. The owners count a change once it is stored and before they
    answer, and a copy is used only while its counts are still the counts, so a follow, post
    or delete shows at the next read. Redis failing means asking the owners."""

    def __init__(self, redis: RespClient, source: SocialCounts) -> None:
        self._redis = redis
        self._source = source
        self._followings = followings_changes(redis)
        self._followers = followers_changes(redis)
        self._writes = timeline_writes(redis)

    async def counts(self, user_ids: Sequence[int]) -> dict[int, Counts]:
        wanted = {
            user_id: (
                counts_key(user_id),
                (
                    self._followings.key(user_id),
                    self._followers.key(user_id),
                    self._writes.key(user_id),
                ),
            )
            for user_id in user_ids
        }
        return await read_through(
            self._redis, wanted, _COUNTS, self._source.counts, SOCIAL_TTL_SECONDS
        )

    async def relationships(
        self, caller_id: int, user_ids: Sequence[int]
    ) -> dict[int, Relationship]:
        caller = self._followings.key(caller_id)
        wanted = {
            user_id: (relationship_key(caller_id, user_id), (caller, self._followings.key(user_id)))
            for user_id in user_ids
        }
        load = partial(self._source.relationships, caller_id)
        return await read_through(self._redis, wanted, _RELATIONSHIP, load, SOCIAL_TTL_SECONDS)
