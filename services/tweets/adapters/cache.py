"""The Redis tweet cache, which the timelines and search services read too.

Keys and values are the contract in ``services/platform/caches/tweet_cache.py`` (shared with the
readers): a serialized, hydrated ``chirp.tweets.v1.Tweet`` per id, a retweet holding only its
original's id, an empty value for a deleted tweet.

User timelines' newest ids are kept too (``RedisUserTimelines``, below).

Entries are written when a tweet is posted or edited, buried when it is deleted, and dropped
when its counts change; read misses fill them under a lease (``lease``, then ``fill``): each
tweet has a generation, counted up whenever its entry is dropped, and a fill lands only where
no entry is and the generation is still the one read before the store was (so a fill that
fetched the counts just before a like, an edit or a delete never puts the old copy back).
Entries live ``TWEET_TTL_SECONDS``, tombstones ``TOMBSTONE_TTL_SECONDS``. Redis is only a
cache: when it fails, reads miss and writes are skipped, with a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import structlog
from chirp.tweets.v1 import tweet_pb2
from redis.exceptions import RedisError

from services.platform import metrics
from services.platform.caches.timeline_writes import timeline_writes
from services.platform.caches.tweet_cache import (
    TOMBSTONE,
    CacheLookup,
    generation_key,
    read_ready,
    tweet_key,
)
from services.platform.caches.user_timelines import KeptIds, RedisKeptTimelines, user_timeline_key
from services.platform.resp import RespClient, Script
from services.tweets.convert import shallow_view_of, tweet_message
from services.tweets.model import TweetView
from services.tweets.ports import Lease

TWEET_TTL_SECONDS = 15 * 60
TOMBSTONE_TTL_SECONDS = 24 * 3600
#: How long a generation outlives the last change it counts: far longer than a read takes.
GENERATION_TTL_SECONDS = 3600

# KEYS: the entry, its generation. ARGV: the value, its TTL, the generation the lease read.
_FILL = Script("""
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[3] then return 0 end
return redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') and 1 or 0
""")

log = structlog.get_logger()


class RedisTweetCache:
    def __init__(self, redis: RespClient) -> None:
        self._redis = redis

    async def get(self, ids: Sequence[int]) -> dict[int, TweetView | None]:
        try:
            values = await self._redis.call("MGET", *map(tweet_key, ids))
        except RedisError:
            log.warning("tweet cache read failed; reading the store", exc_info=True)
            return {}
        found: dict[int, TweetView | None] = {}
        for tweet_id, value in zip(ids, values, strict=True):
            if value == TOMBSTONE:
                found[tweet_id] = None
            elif isinstance(value, bytes):
                found[tweet_id] = shallow_view_of(tweet_pb2.Tweet.FromString(value))
        metrics.looked_up("tweets", len(found), len(ids) - len(found))
        return found

    async def ready(self, ids: Sequence[int]) -> CacheLookup:
        return await read_ready(self._redis, ids)

    async def put(self, views: Sequence[TweetView]) -> None:
        """Writes entries as they now are (a post, an edit), over whatever was there."""
        await self._set({view.id: _entry(view) for view in views}, TWEET_TTL_SECONDS)

    async def bury(self, ids: Sequence[int]) -> None:
        await self._set(dict.fromkeys(ids, TOMBSTONE), TOMBSTONE_TTL_SECONDS)

    async def forget(self, ids: Sequence[int]) -> Lease | None:
        """Drops the entries and counts their tweets' generations up, which voids every lease
        taken before; the generations it counted up to are the lease it returns."""
        unique = list(dict.fromkeys(ids))
        commands = [
            command
            for tweet_id in unique
            for command in (
                ("INCR", generation_key(tweet_id)),
                ("EXPIRE", generation_key(tweet_id), GENERATION_TTL_SECONDS),
                ("DEL", tweet_key(tweet_id)),
            )
        ]
        try:
            replies = await self._redis.pipeline(commands)
        except RedisError:
            log.warning("tweet cache delete failed", exc_info=True)
            return None
        return {tweet_id: str(replies[3 * index]).encode() for index, tweet_id in enumerate(unique)}

    async def lease(self, ids: Sequence[int]) -> Lease | None:
        """The generations to fill ``ids`` under, read before the store is; None when Redis
        cannot say (then nothing is filled)."""
        if not ids:
            return {}
        try:
            values = await self._redis.call("MGET", *map(generation_key, ids))
        except RedisError:
            log.warning("tweet cache read failed", exc_info=True)
            return None
        return {tweet_id: value or b"" for tweet_id, value in zip(ids, values, strict=True)}

    async def fill(
        self, views: Sequence[TweetView], buried: Sequence[int], lease: Lease | None
    ) -> None:
        """Caches what a read found in the store, each entry only where none is and only if its
        tweet has not changed since ``lease`` was taken."""
        values = {view.id: _entry(view) for view in views}
        values.update(dict.fromkeys(buried, TOMBSTONE))
        if lease is None or not values:
            return
        calls = [
            (
                (tweet_key(tweet_id), generation_key(tweet_id)),
                (
                    value,
                    TOMBSTONE_TTL_SECONDS if value == TOMBSTONE else TWEET_TTL_SECONDS,
                    lease.get(tweet_id, b""),
                ),
            )
            for tweet_id, value in values.items()
        ]
        try:
            await self._redis.run_each(_FILL, calls)
        except RedisError:
            log.warning("tweet cache fill failed", exc_info=True)

    async def _set(self, values: dict[int, bytes], ttl: int) -> None:
        if not values:
            return
        try:
            await self._redis.pipeline(
                [("SET", tweet_key(key), value, "EX", ttl) for key, value in values.items()]
            )
        except RedisError:
            log.warning("tweet cache write failed", exc_info=True)


def _entry(view: TweetView) -> bytes:
    """A view as cached: shallow, a retweet keeping only its original's id."""
    return tweet_message(replace(view, retweet_of=None)).SerializeToString()


class RedisUserTimelines:
    """The newest ids of each user timeline read lately, so the first pages of
    ``ListUserTweets`` (and the celebrity merge of home pages) do not read Cassandra: the
    contract is ``services/platform/caches/user_timelines.py``. Redis failing means reading the
    store."""

    def __init__(self, redis: RespClient) -> None:
        self._redis = redis
        self._kept = RedisKeptTimelines(redis)
        self._writes = timeline_writes(redis)

    async def recent(self, user_ids: Sequence[int]) -> tuple[dict[int, KeptIds], dict[int, int]]:
        try:
            return await self._kept.get(user_ids)
        except RedisError:
            log.warning("user timeline cache read failed", exc_info=True)
            return {}, dict.fromkeys(user_ids, -1)

    async def keep(self, user_id: int, writes: int, recent: KeptIds) -> None:
        if writes < 0:
            return  # the count could not be read: nothing to keep it under
        try:
            await self._kept.keep(user_id, writes, recent)
        except RedisError:
            log.warning("user timeline cache write failed", exc_info=True)

    async def wrote(self, user_id: int, added: int | None = None) -> None:
        try:
            await self._kept.wrote(user_id, added)
        except RedisError:
            log.warning("user timeline write not counted", user_id=user_id, exc_info=True)

    async def forget(self, user_id: int) -> None:
        """Deletes the kept ids and the count of writes. A count started again could make a
        copy kept at an old count look current; but an erased account's timeline is read by no
        one again, and nothing derived from it is kept (its profile is gone)."""
        try:
            await self._redis.call("DEL", user_timeline_key(user_id), self._writes.key(user_id))
        except RedisError:
            log.warning("user timeline cache not forgotten", user_id=user_id, exc_info=True)
