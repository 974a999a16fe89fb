"""``FollowChanges``: the in-memory fake and the Redis counts keep the same promises."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from services.graph.adapters.cache import RedisCountedChanges
from services.graph.model import FollowCounts
from services.graph.ports import FollowChanges
from services.platform.caches.followings import followers_changes, followings_changes
from services.platform.resp import RespClient
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.graph.fakes import CountedChanges


@dataclass(frozen=True)
class Counted:
    changes: FollowChanges
    #: A user's counts of changes, as their readers see them: of followings, of followers.
    seen: Callable[[int], Awaitable[tuple[int, int]]]


def _memory(_: pytest.FixtureRequest) -> Counted:
    changes = CountedChanges()

    async def seen(user_id: int) -> tuple[int, int]:
        return changes.followings.get(user_id, 0), changes.followers.get(user_id, 0)

    return Counted(changes, seen)


def _redis(request: pytest.FixtureRequest) -> Counted:
    redis: RespClient = request.getfixturevalue("resp")
    keys = (followings_changes(redis).key, followers_changes(redis).key)

    async def seen(user_id: int) -> tuple[int, int]:
        followings, followers = await redis.call("MGET", *(key(user_id) for key in keys))
        return int(followings or 0), int(followers or 0)

    return Counted(RedisCountedChanges(redis), seen)


counted = implementations(memory=unit(_memory), redis=integration(_redis))


async def test_a_change_counts_for_the_followers_followings_and_the_followees_followers(
    counted: Counted,
) -> None:
    a, b, nobody = (random_user_id() for _ in range(3))
    await counted.changes.changed(a, b)
    await counted.changes.changed(a, b, (FollowCounts(a, 0, 1, 1), FollowCounts(b, 1, 0, 1)))
    await counted.changes.changed(b, a)
    assert [await counted.seen(user_id) for user_id in (a, b, nobody)] == [(2, 1), (1, 2), (0, 0)]
