"""``IdLists``: the in-memory fake and the Redis lists keep the same promises."""

from __future__ import annotations

import pytest

from services.timelines.adapters.store import FOLLOWED_PREFIX, RedisIdLists
from services.timelines.ports import IdLists
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.timelines.fakes import MemoryIdLists


def _memory(_: pytest.FixtureRequest) -> IdLists:
    return MemoryIdLists()


def _redis(request: pytest.FixtureRequest) -> IdLists:
    return RedisIdLists(request.getfixturevalue("resp"), FOLLOWED_PREFIX, 600)


lists = implementations(memory=unit(_memory), redis=integration(_redis))


async def test_a_fill_with_the_stamp_of_its_read_is_held(lists: IdLists) -> None:
    owner, other = random_user_id(), random_user_id()
    held, stamps = await lists.get([owner, other])
    assert held == {}
    assert stamps.keys() == {owner, other}
    await lists.fill({owner: [3, 1, 2]}, stamps)
    assert (await lists.get([owner, other]))[0] == {owner: [3, 1, 2]}


async def test_a_fill_over_a_stale_stamp_writes_nothing(lists: IdLists) -> None:
    owner = random_user_id()
    _, read = await lists.get([owner])
    await lists.forget([owner])  # raced the read: what it read is out of date
    await lists.fill({owner: [1]}, read)
    assert (await lists.get([owner]))[0] == {}
    _, fresh = await lists.get([owner])
    await lists.fill({owner: [2]}, fresh)
    await lists.fill({owner: [3]}, fresh)  # a second fill from the same read
    assert (await lists.get([owner]))[0] == {owner: [2]}


async def test_a_forgotten_list_is_held_no_more(lists: IdLists) -> None:
    owner = random_user_id()
    _, stamps = await lists.get([owner])
    await lists.fill({owner: [1]}, stamps)
    await lists.forget([owner])
    assert (await lists.get([owner]))[0] == {}
