"""The per-account rate limiter on the real Redis: counts, windows, and subjects kept apart."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.asyncio import Redis

from services.platform.errors import ResourceExhausted
from services.platform.ratelimit import Limit, Limits, RedisRateLimiter, redis_key
from services.platform.resp import RespClient
from services.platform.settings import RateLimitSettings, Settings


def _limit(requests: int, window_seconds: int) -> Limit:
    # A name of its own per test, so runs never share counters.
    return Limit(f"test_{uuid.uuid4().hex[:8]}", "test actions", requests, window_seconds)


async def test_a_subject_over_its_limit_is_refused_with_the_time_left(resp: RespClient) -> None:
    limiter = RedisRateLimiter(resp, _limit(3, 600))
    for _ in range(3):
        await limiter.hit("ada")
    with pytest.raises(ResourceExhausted) as refused:
        await limiter.hit("ada")
    assert 599 <= refused.value.retry_after_seconds <= 600
    assert str(refused.value) == (
        "too many test actions: at most 3 per 600 s; "
        f"retry in {int(refused.value.retry_after_seconds)} s"
    )
    # Another subject, and another limit for the same subject, are not affected.
    await limiter.hit("bob")
    await RedisRateLimiter(resp, _limit(1, 600)).hit("ada")


async def test_concurrent_hits_are_counted_exactly(resp: RespClient) -> None:
    limiter = RedisRateLimiter(resp, _limit(10, 600))
    results = await asyncio.gather(*(limiter.hit("ada") for _ in range(25)), return_exceptions=True)
    assert sum(result is None for result in results) == 10
    assert all(isinstance(r, ResourceExhausted) for r in results if r is not None)


async def test_the_counter_expires_with_its_window(resp: RespClient, redis: Redis) -> None:
    limit = _limit(1, 1)
    limiter = RedisRateLimiter(resp, limit)
    await limiter.hit("ada")
    with pytest.raises(ResourceExhausted) as refused:
        await limiter.hit("ada")
    assert refused.value.retry_after_seconds == 1  # never less than a whole second
    # Refused attempts do not extend the window: the counter goes when its first second does.
    deadline = time.monotonic() + 5
    while await redis.exists(redis_key(limit, "ada")):
        assert time.monotonic() < deadline, "the window's counter never expired"
        await asyncio.sleep(0.05)
    await limiter.hit("ada")


def test_the_limits_come_from_the_settings() -> None:
    settings = Settings(service="users", limits=RateLimitSettings(posts=7, post_window_seconds=60))
    limits = Limits.from_settings(settings)
    assert (limits.posts.requests, limits.posts.window_seconds) == (7, 60)
    assert (limits.sign_ins.requests, limits.sign_ins.window_seconds) == (10, 300)
    assert (limits.mastodon_requests.requests, limits.mastodon_requests.window_seconds) == (
        300,
        300,
    )
    names = [
        limits.sign_ins,
        limits.posts,
        limits.follows,
        limits.uploads,
        limits.mastodon_requests,
    ]
    assert len({limit.name for limit in names}) == len(names)  # each its own Redis counters
