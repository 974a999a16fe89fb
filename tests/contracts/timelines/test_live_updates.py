"""``LiveUpdates`` (and the ``LiveFeed`` it gives): the in-memory fake and Redis pub/sub keep the
same promises, with the timeline store of each telling them what changed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from services.timelines.adapters.live import RedisLiveUpdates
from services.timelines.adapters.store import RedisTimelineStore
from services.timelines.model import LiveChange
from services.timelines.ports import LiveFeed, LiveUpdates, TimelineStore
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.timelines.fakes import MemoryStore


@dataclass(frozen=True)
class Live:
    store: TimelineStore
    updates: LiveUpdates


def _memory(_: pytest.FixtureRequest) -> Live:
    store = MemoryStore()
    return Live(store, store.live)


def _redis(request: pytest.FixtureRequest) -> Live:
    store = RedisTimelineStore(request.getfixturevalue("resp"), length=5, active_seconds=600)
    return Live(store, RedisLiveUpdates(request.getfixturevalue("redis")))


live = implementations(memory=unit(_memory), redis=integration(_redis))


async def _changes(feed: LiveFeed, count: int) -> list[LiveChange]:
    """The next ``count`` changes (``next`` may answer None before, as its docstring allows)."""
    seen: list[LiveChange] = []
    async with asyncio.timeout(5):
        while len(seen) < count:
            if change := await feed.next(1):
                seen.append(change)
    return seen


async def test_a_follower_sees_each_change_of_the_timeline_from_when_it_follows(
    live: Live,
) -> None:
    store, user, other = live.store, random_user_id(), random_user_id()
    await store.store(user, [1])
    await store.store(other, [])
    await store.push([user], [2])  # before anyone follows: not seen
    async with live.updates.follow(user) as feed:
        await store.push([user, other], [3, 2])  # 2 was there already
        await store.push([other], [9])  # someone else's timeline
        await store.remove([user], [1, 99])
        await store.remove([user], [1])  # nothing left to remove
        assert await _changes(feed, 2) == [LiveChange(added=[3]), LiveChange(removed=[1])]
        assert await feed.next(0.2) is None
