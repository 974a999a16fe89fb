"""``Graph`` (timelines'): the in-memory fake and the graph service over gRPC keep the same
promises."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.timelines.adapters.clients import GrpcGraph
from services.timelines.ports import Graph
from tests.contracts.implementations import implementations, integration, unit
from tests.contracts.world import Channels, Follows
from tests.integration.tweets.tokens import random_user_id
from tests.unit.timelines.fakes import MemoryGraph


@dataclass(frozen=True)
class MemoryFollows:
    graph: MemoryGraph

    async def follow(self, follower_id: int, followee_id: int) -> None:
        self.graph.follows.add((follower_id, followee_id))


@dataclass(frozen=True)
class Followed:
    graph: Graph
    follows: Follows


def _memory(_: pytest.FixtureRequest) -> Followed:
    graph = MemoryGraph()
    return Followed(graph, MemoryFollows(graph))


def _grpc(request: pytest.FixtureRequest) -> Followed:
    channels: Channels = request.getfixturevalue("channels")
    graph = GrpcGraph(channels.graph)
    return Followed(graph, request.getfixturevalue("live_graph"))


followed = implementations(memory=unit(_memory), grpc=integration(_grpc))


def _ids(count: int) -> list[int]:
    return sorted(random_user_id() for _ in range(count))


async def test_followers_are_counted_and_streamed_in_bounded_batches(followed: Followed) -> None:
    star, nobody, *fans = _ids(5)
    assert await followed.graph.follower_count(star) == 0  # read before the follows
    for fan in fans:
        await followed.follows.follow(fan, star)
    assert await followed.graph.follower_count(star) == 3
    batches = [batch async for batch in followed.graph.stream_followers(star, 2)]
    assert all(0 < len(batch) <= 2 for batch in batches)
    assert sorted(fan for batch in batches for fan in batch) == fans
    assert await followed.graph.follower_count(nobody) == 0
    assert [batch async for batch in followed.graph.stream_followers(nobody, 2)] == []


async def test_following_ids_are_the_followed_with_enough_followers(followed: Followed) -> None:
    me, fan, *followees = _ids(5)
    for followee in followees:
        await followed.follows.follow(me, followee)
    await followed.follows.follow(fan, followees[1])
    assert sorted(await followed.graph.following_ids(me, 0)) == followees
    assert await followed.graph.following_ids(me, 2) == [followees[1]]
    assert await followed.graph.following_ids(fan, 3) == []
