"""The Redis tweet cache, which the timelines and search services read too.

Keys and values are the contract in ``services/platform/caches/tweet_cache.py`` (shared with the
readers): a serialized, hydrated ``chirp.tweets.v1.Tweet`` per id, a retweet holding only its
original's id, an empty value for a deleted tweet.

User timelines' newest ids are kept too (``RedisUserTimelines``, below).

Entries are written when a tweet is posted or edited, dropped when its counts change (the next
read refills them; dropped again a second later, in case a read that raced the change refilled
the old counts), buried when it is deleted, and filled on read misses only where no entry
is (so a fill that raced a delete or an edit never overwrites it). Entries live
``TWEET_TTL_SECONDS``, tombstones ``TOMBSTONE_TTL_SECONDS``. Redis is only a cache: when it
fails, reads miss and writes are skipped, with a warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import structlog
from chirp.tweets.v1 import tweet_pb2
from redis.exceptions import RedisError

from services.platform.caches.tweet_cache import TOMBSTONE, CacheLookup, read_ready, tweet_key
from services.platform.caches.user_timelines import KeptIds, RedisKeptTimelines
from services.platform.resp import Resp
from services.tweets.convert import shallow_view_of, tweet_message
from services.tweets.model import TweetView

TWEET_TTL_SECONDS = 15 * 60
TOMBSTONE_TTL_SECONDS = 24 * 3600
#: How long after a change its entries are dropped a second time (see ``forget``).
REFORGET_SECONDS = 1.0

log = structlog.get_logger()


class RedisTweetCache:
    def __init__(self, redis: Resp) -> None:
        self._redis = redis
        #: Second deletes not yet done (held so that they are not garbage-collected).
        self._pending: set[asyncio.Task[None]] = set()

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
        return found

    async def ready(self, ids: Sequence[int]) -> CacheLookup:
        return await read_ready(self._redis, ids)

    async def put(self, views: Sequence[TweetView], *, only_if_absent: bool = False) -> None:
        await self._set(
            {
                # Shallow: a retweet keeps only its original's id.
                tweet_key(view.id): tweet_message(
                    replace(view, retweet_of=None)
                ).SerializeToString()
                for view in views
            },
            TWEET_TTL_SECONDS,
            only_if_absent=only_if_absent,
        )

    async def bury(self, ids: Sequence[int], *, only_if_absent: bool = False) -> None:
        await self._set(
            dict.fromkeys(map(tweet_key, ids), TOMBSTONE),
            TOMBSTONE_TTL_SECONDS,
            only_if_absent=only_if_absent,
        )

    async def forget(self, ids: Sequence[int]) -> None:
        """Drops the entries now and once more ``REFORGET_SECONDS`` later: a read that fetched
        the old counts from the store just before they changed may fill its entry after the
        first delete (fills only add absent entries, and this one is absent), and the second
        delete takes that stale copy out."""
        if not ids:
            return
        await self._delete(ids)
        task = asyncio.get_running_loop().create_task(self._delete_later(list(ids)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _delete_later(self, ids: list[int]) -> None:
        await asyncio.sleep(REFORGET_SECONDS)
        await self._delete(ids)

    async def _delete(self, ids: Sequence[int]) -> None:
        try:
            await self._redis.call("DEL", *map(tweet_key, ids))
        except RedisError:
            log.warning("tweet cache delete failed", exc_info=True)

    async def _set(self, values: dict[str, bytes], ttl: int, *, only_if_absent: bool) -> None:
        if not values:
            return
        try:
            absent = ("NX",) if only_if_absent else ()
            await self._redis.pipeline(
                [("SET", key, value, "EX", ttl, *absent) for key, value in values.items()]
            )
        except RedisError:
            log.warning("tweet cache write failed", exc_info=True)


class RedisUserTimelines:
    """The newest ids of each user timeline read lately, so the first pages of
    ``ListUserTweets`` (and the celebrity merge of home pages) do not read Cassandra: the
    contract is ``services/platform/caches/user_timelines.py``. Redis failing means reading the
    store."""

    def __init__(self, redis: Resp) -> None:
        self._kept = RedisKeptTimelines(redis)

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
