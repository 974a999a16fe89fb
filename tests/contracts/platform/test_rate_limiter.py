"""``RateLimiter`` (the users and graph services' port, in ``services/platform``): the counting
fake of ``tests/limiting.py`` and the Redis limiter keep the same promises within a window."""

from __future__ import annotations

import uuid

import pytest

from services.platform.errors import ResourceExhausted
from services.platform.ratelimit import Limit, RateLimiter, RedisRateLimiter
from tests.contracts.implementations import implementations, integration, unit
from tests.limiting import CountingLimiter

LIMIT = Limit("contracts", "actions", 3, 60)


def _memory(_: pytest.FixtureRequest) -> RateLimiter:
    return CountingLimiter(LIMIT)


def _redis(request: pytest.FixtureRequest) -> RateLimiter:
    return RedisRateLimiter(request.getfixturevalue("resp"), LIMIT)


limiter = implementations(memory=unit(_memory), redis=integration(_redis))


async def test_each_subject_may_act_as_often_as_the_limit_says(limiter: RateLimiter) -> None:
    subject, other = uuid.uuid4().hex, uuid.uuid4().hex
    for _ in range(LIMIT.requests):
        await limiter.hit(subject)
    with pytest.raises(ResourceExhausted, match="too many actions") as refused:
        await limiter.hit(subject)
    assert 1 <= refused.value.retry_after_seconds <= LIMIT.window_seconds
    await limiter.hit(other)  # counted on its own


async def test_a_forgotten_subject_starts_a_fresh_window(limiter: RateLimiter) -> None:
    subject, other = uuid.uuid4().hex, uuid.uuid4().hex
    for _ in range(LIMIT.requests):
        await limiter.hit(subject)
        await limiter.hit(other)
    await limiter.forget(subject)
    await limiter.hit(subject)  # counted from zero again
    with pytest.raises(ResourceExhausted):
        await limiter.hit(other)  # others untouched
