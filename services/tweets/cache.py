"""The Redis tweet cache, which the timelines service reads too.

Keys and values are the contract in ``services/bootstrap/tweet_cache.py`` (shared with the
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
import struct
from collections.abc import Sequence
from dataclasses import replace

import structlog
from chirp.tweets.v1 import tweet_pb2
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.bootstrap.timeline_writes import timeline_writes
from services.bootstrap.tweet_cache import TOMBSTONE, CacheLookup, read_ready, tweet_key
from services.tweets.convert import shallow_view_of, tweet_message
from services.tweets.model import TweetView
from services.tweets.ports import KeptIds

TWEET_TTL_SECONDS = 15 * 60
TOMBSTONE_TTL_SECONDS = 24 * 3600
#: How long after a change its entries are dropped a second time (see ``forget``).
REFORGET_SECONDS = 1.0

log = structlog.get_logger()


class RedisTweetCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        #: Second deletes not yet done (held so that they are not garbage-collected).
        self._pending: set[asyncio.Task[None]] = set()

    async def get(self, ids: Sequence[int]) -> dict[int, TweetView | None]:
        try:
            values = await self._redis.mget([tweet_key(tweet_id) for tweet_id in ids])
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
            await self._redis.delete(*map(tweet_key, ids))
        except RedisError:
            log.warning("tweet cache delete failed", exc_info=True)

    async def _set(self, values: dict[str, bytes], ttl: int, *, only_if_absent: bool) -> None:
        if not values:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipeline:
                for key, value in values.items():
                    pipeline.set(key, value, ex=ttl, nx=only_if_absent)
                await pipeline.execute()
        except RedisError:
            log.warning("tweet cache write failed", exc_info=True)


#: How long they are kept: also how long a write whose process died before it counted the write
#: can stay unseen in its author's first pages (a retry of the post counts it).
RECENT_TTL_SECONDS = 60
_HEAD = struct.Struct(">qq")  # the count of writes the ids were read at, and "complete" (0/1)


def user_timeline_key(user_id: int) -> str:
    return f"chirp:tweets:user-timeline:{user_id}"


class RedisUserTimelines:
    """The newest ids of each user timeline read lately (``service.RECENT_KEPT``), so the
    first pages of ``ListUserTweets`` do not read Cassandra. Each write to a user timeline (a
    post, retweet, delete or undone retweet) counts itself in ``...-writes:<user>`` once it is
    stored; the ids are kept with the count they were read at, and are used only while it is
    still the count, so a write shows at the next read. Redis failing means reading the store."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._writes = timeline_writes(redis)

    async def recent(self, user_id: int) -> tuple[KeptIds | None, int]:
        try:
            kept, writes = await self._redis.mget(
                [user_timeline_key(user_id), self._writes.key(user_id)]
            )
        except RedisError:
            log.warning("user timeline cache read failed", exc_info=True)
            return None, -1
        count = int(writes or 0)
        if not isinstance(kept, bytes) or len(kept) < _HEAD.size:
            return None, count
        read_at, complete = _HEAD.unpack_from(kept)
        if read_at != count:
            return None, count
        ids = struct.unpack_from(f">{(len(kept) - _HEAD.size) // 8}q", kept, _HEAD.size)
        return KeptIds(list(ids), complete=bool(complete)), count

    async def keep(self, user_id: int, writes: int, recent: KeptIds) -> None:
        if writes < 0:
            return  # the count could not be read: nothing to keep it under
        value = _HEAD.pack(writes, int(recent.complete)) + struct.pack(
            f">{len(recent.ids)}q", *recent.ids
        )
        try:
            await self._redis.set(user_timeline_key(user_id), value, ex=RECENT_TTL_SECONDS)
        except RedisError:
            log.warning("user timeline cache write failed", exc_info=True)

    async def wrote(self, user_id: int) -> None:
        await self._writes.changed(user_id)
