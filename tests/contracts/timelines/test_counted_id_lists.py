"""``CountedIdLists``: the timeline store's two (the celebrities each reader follows, each
author's followers) in the in-memory fake and in Redis keep the same promises, each read with
its owner's count of changes as graph counts them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pytest

from services.platform.caches.followings import RedisFollowChanges
from services.timelines.adapters.store import RedisTimelineStore
from services.timelines.ports import TimelineStore
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.timelines.fakes import MemoryStore


@dataclass(frozen=True)
class MemoryChanges:
    """Graph's counting of a follow, as the fake's lists see it."""

    store: MemoryStore

    async def changed(self, follower_id: int, followee_id: int) -> None:
        for changes, owner in (
            (self.store.celebrities_followed.changes, follower_id),
            (self.store.followers.changes, followee_id),
        ):
            changes[owner] = changes.get(owner, 0) + 1


class Counting(Protocol):
    """How graph counts a follow, as the timelines' lists see it."""

    async def changed(self, follower_id: int, followee_id: int) -> None: ...


@dataclass(frozen=True)
class Counted:
    store: TimelineStore
    changes: Counting


def _memory(_: pytest.FixtureRequest) -> Counted:
    store = MemoryStore()
    return Counted(store, MemoryChanges(store))


def _redis(request: pytest.FixtureRequest) -> Counted:
    redis = request.getfixturevalue("resp")
    return Counted(
        RedisTimelineStore(redis, length=5, active_seconds=600), RedisFollowChanges(redis)
    )


counted = implementations(memory=unit(_memory), redis=integration(_redis))


async def test_a_list_is_read_with_its_stamp_and_its_count_of_changes(counted: Counted) -> None:
    lists = counted.store.celebrities_followed
    reader = random_user_id()
    held, stamp, changes = await lists.kept(reader)
    assert (held, changes) == (None, 0)
    await lists.fill({reader: [0, 7]}, {reader: stamp})
    held, stamp, changes = await lists.kept(reader)
    assert (held, changes) == ([0, 7], 0)
    await lists.fill({reader: [0, 8]}, {reader: stamp})  # the stamp of what is held: written
    assert (await lists.kept(reader))[0] == [0, 8]


async def test_each_list_counts_the_changes_of_what_it_derives_from(counted: Counted) -> None:
    reader, author = random_user_id(), random_user_id()
    await counted.changes.changed(reader, author)
    store = counted.store
    assert [
        (await lists.kept(owner))[2]
        for lists, owner in (
            (store.celebrities_followed, reader),  # the reader's followings changed
            (store.followers, author),  # the author's followers changed
            (store.celebrities_followed, author),
            (store.followers, reader),
        )
    ] == [1, 1, 0, 0]
