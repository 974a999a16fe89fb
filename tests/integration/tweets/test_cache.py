"""The Redis tweet cache against the real Redis."""

from __future__ import annotations

import random

from chirp.tweets.v1 import tweet_pb2
from redis.asyncio import Redis

from services.platform.caches.timeline_writes import timeline_writes
from services.platform.caches.tweet_cache import tweet_key
from services.platform.caches.user_timelines import KeptIds, user_timeline_key
from services.platform.ids import compose, wall_clock_ms
from services.platform.resp import Resp, RespClient
from services.tweets.adapters.cache import (
    TOMBSTONE_TTL_SECONDS,
    TWEET_TTL_SECONDS,
    RedisTweetCache,
    RedisUserTimelines,
)
from services.tweets.model import Author, Counts, Tweet, TweetView


def _view(text: str = "cached", retweet_of_id: int = 0) -> TweetView:
    tweet_id = compose(wall_clock_ms(), 1022, random.randrange(4096))  # noqa: S311
    tweet = Tweet(tweet_id, 7, text, retweet_of_id=retweet_of_id)
    return TweetView(tweet, Author(7, "ada"), Counts(3, 2, 1))


async def test_views_round_trip_with_a_ttl(resp: RespClient, redis: Redis) -> None:
    cache = RedisTweetCache(resp)
    view = _view()
    assert await cache.get([view.id]) == {}
    await cache.put([view])
    assert await cache.get([view.id, view.id + 1]) == {view.id: view}
    assert 0 < await redis.ttl(tweet_key(view.id)) <= TWEET_TTL_SECONDS
    await cache.forget([view.id])
    assert await cache.get([view.id]) == {}


async def test_a_fill_under_a_lease_taken_before_a_change_is_refused(resp: RespClient) -> None:
    cache = RedisTweetCache(resp)
    old = _view()
    lease = await cache.lease([old.id])  # a read is about to fetch the counts
    await cache.forget([old.id])  # the counts change meanwhile
    await cache.fill([old], [], lease)  # the read's fill carries the old counts
    assert await cache.get([old.id]) == {}
    await cache.fill([old], [], await cache.lease([old.id]))  # a read after the change
    assert await cache.get([old.id]) == {old.id: old}
    await cache.forget([old.id])


async def test_a_forget_leases_the_fill_that_follows_it_until_the_next_change(
    resp: RespClient,
) -> None:
    cache = RedisTweetCache(resp)
    old = _view()
    await cache.put([old])
    lease = await cache.forget([old.id])  # a like, about to read the counts it changed
    assert await cache.get([old.id]) == {}
    stale = await cache.forget([old.id])  # another like meanwhile: the first one's fill is void
    await cache.fill([old], [], lease)
    assert await cache.get([old.id]) == {}
    await cache.fill([old], [], stale)  # the last change's fill lands
    assert await cache.get([old.id]) == {old.id: old}
    await cache.forget([old.id])


async def test_a_tombstone_reads_as_none_and_read_fills_never_overwrite(
    resp: RespClient, redis: Redis
) -> None:
    cache = RedisTweetCache(resp)
    view = _view()
    lease = await cache.lease([view.id])
    await cache.bury([view.id])
    await cache.fill([view], [], lease)  # a read fill racing the delete
    assert await cache.get([view.id]) == {view.id: None}
    assert await redis.get(tweet_key(view.id)) == b""
    assert 0 < await redis.ttl(tweet_key(view.id)) <= TOMBSTONE_TTL_SECONDS
    await cache.put([view])  # a write (post or edit) does
    assert await cache.get([view.id]) == {view.id: view}
    await cache.fill([], [view.id], await cache.lease([view.id]))
    assert await cache.get([view.id]) == {view.id: view}
    await cache.forget([view.id])
    await cache.fill([], [view.id], await cache.lease([view.id]))  # a read finding it deleted
    assert await cache.get([view.id]) == {view.id: None}


async def test_a_retweet_is_stored_shallow_for_other_readers(
    resp: RespClient, redis: Redis
) -> None:
    cache = RedisTweetCache(resp)
    original = _view("the original")
    retweet = _view("", retweet_of_id=original.id)
    await cache.put([TweetView(retweet.tweet, retweet.author, retweet_of=original)])
    value = await redis.get(tweet_key(retweet.id))
    assert isinstance(value, bytes)
    stored = tweet_pb2.Tweet.FromString(value)
    assert stored.retweet_of == tweet_pb2.Tweet(id=original.id)
    assert stored.author.username == "ada"
    assert (await cache.get([retweet.id]))[retweet.id] == TweetView(retweet.tweet, retweet.author)
    await cache.forget([retweet.id])


async def test_a_forgotten_timeline_leaves_neither_ids_nor_a_count_of_writes(
    resp: RespClient, redis: Redis
) -> None:
    timelines = RedisUserTimelines(resp)
    user = random.randrange(2**61, 2**62)  # noqa: S311
    await timelines.wrote(user)
    _, writes = await timelines.recent([user])
    await timelines.keep(user, writes[user], KeptIds([3, 2, 1], complete=True))
    assert (await timelines.recent([user]))[0] == {user: KeptIds([3, 2, 1], complete=True)}
    await timelines.forget(user)
    assert await redis.exists(user_timeline_key(user), timeline_writes(resp).key(user)) == 0
    assert await timelines.recent([user]) == ({}, {user: 0})


async def test_a_dead_redis_means_misses_not_failures() -> None:
    dead = Resp.from_url("redis://127.0.0.1:1/0", timeout=0.5)
    cache = RedisTweetCache(dead)
    view = _view()
    assert await cache.get([view.id]) == {}
    await cache.put([view])
    await cache.bury([view.id])
    await cache.forget([view.id])
    assert await cache.lease([view.id]) is None
    await cache.fill([view], [], None)
    await RedisUserTimelines(dead).forget(1)
    await dead.aclose()
