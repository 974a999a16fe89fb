"""``RedisLiveUpdates`` against the real Redis: one subscription a process, shared by its
streams, and a lost one ends them."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from services.timelines.adapters.live import LiveFailed, RedisLiveUpdates
from services.timelines.adapters.store import LIVE_CHANNEL, RedisTimelineStore
from services.timelines.model import LiveChange
from services.timelines.ports import LiveFeed
from tests.integration.tweets.tokens import random_user_id
from tests.processes import free_port


async def _subscribers(redis: Redis) -> int:
    [(_, count)] = await redis.pubsub_numsub(LIVE_CHANNEL)
    return int(count)


async def _next(feed: LiveFeed) -> LiveChange:
    async with asyncio.timeout(5):
        while (change := await feed.next(1)) is None:
            pass
    return change


async def test_every_stream_of_a_process_shares_one_subscription(
    redis: Redis, store: RedisTimelineStore
) -> None:
    reader, other = random_user_id(), random_user_id()
    for user in (reader, other):
        await store.store(user, [1])
    live = RedisLiveUpdates(redis)
    before = await _subscribers(redis)
    async with (
        live.follow(reader) as first,
        live.follow(reader) as second,
        live.follow(other) as third,
    ):
        assert await _subscribers(redis) == before + 1
        await store.push([reader, other], [2])
        await store.push([other], [3])
        assert await _next(first) == await _next(second) == LiveChange(added=[2])
        assert await _next(third) == LiveChange(added=[2])
        assert await _next(third) == LiveChange(added=[3])
        assert await first.next(0.2) is None  # not another reader's change
    async with asyncio.timeout(5):  # the last stream gone: unsubscribed
        while True:
            if await _subscribers(redis) == before:
                break
            await asyncio.sleep(0.05)


async def test_a_subscription_that_cannot_be_made_fails_the_stream() -> None:
    unreachable = Redis(port=free_port(), socket_connect_timeout=1)
    with pytest.raises(LiveFailed):
        async with RedisLiveUpdates(unreachable).follow(random_user_id()):
            pass
    await unreachable.aclose()
