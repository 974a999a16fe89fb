"""The Redis tweet cache, which the timelines service hydrates from too.

Keys and values (the contract for readers outside this service):

* ``chirp:tweets:tweet:<id>`` holds a serialized ``chirp.tweets.v1.Tweet``: author in the BASIC
  view, text, entities, times, counts as of when it was written. A **retweet** is stored with
  ``retweet_of`` holding only the original's id: read the original from its own key (its counts
  live there only, and a retweet of a deleted tweet must not be shown).
* An **empty value is a tombstone**: the tweet is deleted; show nothing and do not ask the
  tweets service. A missing key says nothing: ask ``TweetsService.BatchGetTweets``.

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
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.tweets.convert import shallow_view_of, tweet_message
from services.tweets.model import TweetView

TWEET_TTL_SECONDS = 15 * 60
TOMBSTONE_TTL_SECONDS = 24 * 3600
TOMBSTONE = b""
#: How long after a change its entries are dropped a second time (see ``forget``).
REFORGET_SECONDS = 1.0

log = structlog.get_logger()


def tweet_key(tweet_id: int) -> str:
    return f"chirp:tweets:tweet:{tweet_id}"


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
