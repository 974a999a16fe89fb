"""``TimelineStore``: the in-memory fake and the Redis store keep the same promises."""

from __future__ import annotations

import pytest

from services.timelines.adapters.store import RedisTimelineStore
from services.timelines.ports import TimelineStore
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.timelines.fakes import MemoryStore

#: Ids above 2^53, where a double would round them: kept exactly all the same.
BIG = 2**62
LENGTH = 5


def _memory(_: pytest.FixtureRequest) -> TimelineStore:
    return MemoryStore(length=LENGTH)


def _redis(request: pytest.FixtureRequest) -> TimelineStore:
    return RedisTimelineStore(request.getfixturevalue("resp"), length=LENGTH, active_seconds=600)


store = implementations(memory=unit(_memory), redis=integration(_redis))


async def test_a_timeline_exists_once_stored_even_empty(store: TimelineStore) -> None:
    user = random_user_id()
    assert await store.read(user, None, 10) == ([], False)
    await store.store(user, [])
    assert await store.read(user, None, 10) == ([], True)


async def test_a_timeline_keeps_its_newest_ids_and_pages_below_a_cursor(
    store: TimelineStore,
) -> None:
    user = random_user_id()
    await store.store(user, [BIG + 1, BIG + 2, BIG + 3, BIG + 4])
    await store.store(user, [BIG + 7, BIG + 6, BIG + 5, BIG + 4])  # merged, then trimmed
    assert await store.read(user, None, 10) == ([BIG + 7, BIG + 6, BIG + 5, BIG + 4, BIG + 3], True)
    assert await store.read(user, BIG + 5, 1) == ([BIG + 4], True)


async def test_a_push_writes_only_the_timelines_that_exist(store: TimelineStore) -> None:
    active, away = random_user_id(), random_user_id()
    await store.store(active, [BIG + 1])
    assert await store.push([active, away], [BIG + 2]) == 1
    assert await store.push([active], [BIG + 2]) == 1  # again: written, nothing changes
    assert await store.push([active], []) == 0
    assert await store.push([], [BIG + 3]) == 0
    for newer in range(3, 9):
        await store.push([active], [BIG + newer])
    assert await store.read(active, None, 10) == ([BIG + i for i in range(8, 3, -1)], True)
    assert await store.read(away, None, 10) == ([], False)


async def test_removed_ids_leave_the_timelines_that_hold_them(store: TimelineStore) -> None:
    user, away = random_user_id(), random_user_id()
    await store.store(user, [BIG + 1, BIG + 2, BIG + 3])
    await store.remove([user, away], [BIG + 2, BIG + 9])
    assert await store.read(user, None, 10) == ([BIG + 3, BIG + 1], True)
    assert await store.read(away, None, 10) == ([], False)


async def test_a_celebrity_mark_says_when_it_changed(store: TimelineStore) -> None:
    author = random_user_id()
    assert await store.mark_celebrity(author, is_celebrity=True)
    assert not await store.mark_celebrity(author, is_celebrity=True)
    assert await store.mark_celebrity(author, is_celebrity=False)
    assert not await store.mark_celebrity(author, is_celebrity=False)


async def test_an_erased_account_leaves_nothing_kept_under_it(store: TimelineStore) -> None:
    gone, other = random_user_id(), random_user_id()
    for user in (gone, other):
        await store.store(user, [BIG + 1])
        for lists in (store.celebrities_followed, store.followers):
            _, stamps = await lists.get([user])
            await lists.fill({user: [0, 7]}, stamps)
        await store.mark_celebrity(user, is_celebrity=True)
    await store.celebrities_followed.forget([gone])  # a mark in place of the list
    for _ in range(2):  # a redelivery finds nothing more to do
        await store.erase(gone)
        assert await store.read(gone, None, 10) == ([], False)
        assert (await store.celebrities_followed.get([gone]))[0] == {}
        assert (await store.followers.get([gone]))[0] == {}
        assert not await store.mark_celebrity(gone, is_celebrity=False)  # no longer marked
    assert await store.read(other, None, 10) == ([BIG + 1], True)
    assert (await store.celebrities_followed.get([other]))[0] == {other: [0, 7]}
    assert (await store.followers.get([other]))[0] == {other: [0, 7]}
    assert not await store.mark_celebrity(other, is_celebrity=True)
