"""``FollowCountSource``: the in-memory fake, the Neo4j store and the Redis copies kept of its
counts keep the same promises."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from services.graph.adapters.cache import RedisFollowCounts
from services.graph.model import FollowCounts
from services.graph.ports import FollowCountSource
from tests.contracts.implementations import implementations, integration, unit
from tests.contracts.world import Follows, LiveGraph
from tests.integration.tweets.tokens import random_user_id
from tests.unit.graph.fakes import MemoryStore


@dataclass(frozen=True)
class Counted:
    counts: FollowCountSource
    follows: Follows


def _memory(_: pytest.FixtureRequest) -> Counted:
    store = MemoryStore()
    return Counted(store, store)


def _neo4j(request: pytest.FixtureRequest) -> Counted:
    graph: LiveGraph = request.getfixturevalue("live_graph")
    return Counted(graph.store, graph)


def _redis(request: pytest.FixtureRequest) -> Counted:
    """The graph service's: Redis copies of the store's counts."""
    bare = _neo4j(request)
    return replace(bare, counts=RedisFollowCounts(request.getfixturevalue("resp"), bare.counts))


counted = implementations(
    memory=unit(_memory), neo4j=integration(_neo4j), redis=integration(_redis)
)


async def test_a_follow_shows_in_the_counts_at_the_next_read(counted: Counted) -> None:
    a, b, c = (random_user_id() for _ in range(3))
    await counted.follows.follow(a, b)
    assert await counted.counts.counts([a, b]) == {
        a: FollowCounts(a, following_count=1),
        b: FollowCounts(b, follower_count=1),
    }
    await counted.follows.follow(c, b)
    assert await counted.counts.counts([b, c]) == {
        b: FollowCounts(b, follower_count=2),
        c: FollowCounts(c, following_count=1),
    }


async def test_a_user_nobody_knows_counts_zero_or_is_left_out(counted: Counted) -> None:
    nobody = random_user_id()
    found = await counted.counts.counts([nobody])
    assert found.get(nobody, FollowCounts(nobody)) == FollowCounts(nobody)
