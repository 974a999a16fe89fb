"""A deleted account erased from the real Neo4j and Redis: every follow both ways removed as an
unfollow (the others' counts right in Neo4j and through the Redis copies, a ``graph.unfollowed``
event in the outbox for each), then its node and what Redis keeps of it; a second run changes
nothing, and a run cut short then run again ends the same.

Users are random ids far above real accounts', so tests do not see each other's nodes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from chirp.events.v1 import graph_events_pb2
from neo4j import AsyncDriver
from redis.asyncio import Redis

from services.graph import service
from services.graph.adapters.cache import (
    ERASED,
    RedisCountedChanges,
    RedisFollowCounts,
    RedisKeptCopies,
    RedisSuggestions,
    counts_key,
)
from services.graph.adapters.outbox import Neo4jOutboxStore
from services.graph.adapters.store import Neo4jGraphStore
from services.graph.model import FollowCounts
from services.graph.service import GraphService
from services.platform.outbox import PendingEvent
from services.platform.resp import RespClient
from tests.integration.graph.support import count_edges
from tests.integration.tweets.tokens import random_user_id
from tests.limiting import CountingLimiter
from tests.unit.graph.fakes import MemoryDirectory

#: The timelines' celebrity threshold on the dev stack (``devstack/components.py``) ...
CELEBRITY_THRESHOLD = 5
#: ... which the erased account is above, and the account it follows too.
CELEBRITY_FOLLOWERS = 7


@dataclass
class World:
    graph: GraphService
    store: Neo4jGraphStore
    outbox: Neo4jOutboxStore
    gone: int
    fans: list[int]
    followed: list[int]
    celebrity: int
    #: Follows between others, which the erasure leaves alone.
    others: list[tuple[int, int]]
    #: The outbox rows taken so far (removed after the test: no relay drains them here).
    rows: list[PendingEvent] = field(default_factory=list)

    def take(self) -> list[PendingEvent]:
        """The events handed to the relay since the last take."""
        taken = self.outbox.take()
        self.rows += taken
        return taken

    @property
    def peers(self) -> list[int]:
        return [*self.fans, *self.followed, self.celebrity]

    @property
    def edges(self) -> set[tuple[int, int]]:
        """The erased account's follows, as (follower, followee)."""
        return {(fan, self.gone) for fan in self.fans} | {
            (self.gone, followee) for followee in [*self.followed, self.celebrity]
        }


@pytest.fixture
async def world(driver: AsyncDriver, resp: RespClient) -> AsyncIterator[World]:
    """An account followed by celebrity-many fans, following two accounts and a celebrity (who
    has other fans), with the others' counts and its suggestions kept in Redis."""
    outbox = Neo4jOutboxStore(driver)
    store = Neo4jGraphStore(driver, outbox)
    changes = RedisCountedChanges(resp)
    suggestions = RedisSuggestions(resp)
    graph = GraphService(
        store,
        MemoryDirectory({}),
        changes,
        RedisFollowCounts(resp, store),
        suggestions,
        RedisKeptCopies(resp),
        CountingLimiter(),
    )
    gone, celebrity = random_user_id(), random_user_id()
    fans = [random_user_id() for _ in range(CELEBRITY_FOLLOWERS)]
    followed = [random_user_id(), random_user_id()]
    others = [(fan, celebrity) for fan in [*fans[:5], followed[0]]] + [(fans[0], followed[1])]
    world = World(graph, store, outbox, gone, fans, followed, celebrity, others)
    for follower, followee in [*world.edges, *others]:
        await store.follow(follower, followee)
        await changes.changed(follower, followee)
    counts = await graph.counts([gone, *world.peers])  # kept in Redis from now on
    assert counts[0].follower_count == CELEBRITY_FOLLOWERS > CELEBRITY_THRESHOLD
    assert counts[-1].follower_count > CELEBRITY_THRESHOLD
    await graph.suggestions(gone, 10, "")
    world.take()
    yield world
    await outbox.remove(world.rows)


async def _expected_counts(driver: AsyncDriver, users: list[int]) -> list[FollowCounts]:
    """Each user's counts as its edges in Neo4j count them, checked equal to its node's."""
    expected = []
    for user in users:
        followers, following, follower_count, following_count = await count_edges(driver, user)
        assert (followers, following) == (follower_count, following_count)
        expected.append(FollowCounts(user, followers, following))
    return expected


async def _assert_erased(world: World, driver: AsyncDriver, redis: Redis) -> None:
    records, _, _ = await driver.execute_query(
        "OPTIONAL MATCH (u:User {id: $id}) "
        "RETURN count(u) AS nodes, COUNT { ()-[f:FOLLOWS]->() WHERE f.followee = $id } AS edges",
        {"id": world.gone},
    )
    assert (records[0]["nodes"], records[0]["edges"]) == (0, 0)
    expected = await _expected_counts(driver, world.peers)
    assert await world.graph.counts(world.peers) == expected  # through the Redis copies
    others = {(a, b) for a, b in world.others}
    for user, counts in zip(world.peers, expected, strict=True):
        assert counts.follower_count == sum(1 for _, b in others if b == user)
        assert counts.following_count == sum(1 for a, _ in others if a == user)
    assert await world.graph.check(world.others) == [True] * len(world.others)
    # As the timelines service asks on each graph.unfollowed: zeros, and nothing kept.
    assert await world.graph.counts([world.gone]) == [FollowCounts(world.gone)]
    # Nothing of graph's (keys under chirp:graph:) is kept under the id but the counts' tombstone,
    # which holds none; other services' keys made from the events (a running timelines' marks)
    # are theirs to erase.
    mine = f"chirp:graph:*{world.gone}*"
    assert [key async for key in redis.scan_iter(match=mine, count=1000)] == [
        counts_key(world.gone).encode()
    ]
    assert await redis.get(counts_key(world.gone)) == ERASED


def _unfollows(rows: list[PendingEvent]) -> list[tuple[int, int]]:
    assert {row.subject for row in rows} <= {"graph.unfollowed"}
    events = [graph_events_pb2.UserUnfollowedEvent.FromString(row.payload) for row in rows]
    return [(event.follower_id, event.followee_id) for event in events]


async def _stored(driver: AsyncDriver, rows: list[PendingEvent]) -> list[bytes]:
    records, _, _ = await driver.execute_query(
        "UNWIND $ids AS id MATCH (e:OutboxEvent {event_id: id}) RETURN e.payload AS payload",
        {"ids": [row.event_id for row in rows]},
    )
    return sorted(bytes(record["payload"]) for record in records)


async def test_an_erasure_unfollows_every_follow_in_batches_and_removes_the_node(
    world: World, driver: AsyncDriver, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "ERASE_BATCH", 3)
    before = await world.graph.counts(world.peers)
    await world.graph.erase_user(world.gone)
    handed = world.take()
    assert sorted(_unfollows(handed)) == sorted(world.edges)
    assert await _stored(driver, handed) == sorted(row.payload for row in handed)
    await _assert_erased(world, driver, redis)
    assert await world.graph.counts(world.peers) != before

    await world.graph.erase_user(world.gone)  # a redelivery: nothing left to do
    assert world.take() == []
    await _assert_erased(world, driver, redis)


@dataclass
class Crashing:
    """A store's ``remove_follows``, failing the second batch of an erasure as a process dying
    would."""

    remove: Callable[[int, int], Awaitable[list[tuple[int, int]]]]
    batches: int = 0

    async def remove_follows(self, user_id: int, limit: int) -> list[tuple[int, int]]:
        self.batches += 1
        if self.batches == 2:
            raise ConnectionError("the process died")
        return await self.remove(user_id, limit)


async def test_an_erasure_cut_short_is_finished_by_the_next_run(
    world: World, driver: AsyncDriver, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "ERASE_BATCH", 4)
    crashing = Crashing(world.store.remove_follows)
    monkeypatch.setattr(world.store, "remove_follows", crashing.remove_follows)
    with pytest.raises(ConnectionError):
        await world.graph.erase_user(world.gone)
    first = world.take()
    assert len(first) == 4
    # Midway: the batch is removed whole, with the erased account's own counts moved per edge.
    followers, following, follower_count, following_count = await count_edges(driver, world.gone)
    assert followers + following == len(world.edges) - 4
    assert (followers, following) == (follower_count, following_count)
    await world.graph.erase_user(world.gone)  # the redelivery
    assert sorted(_unfollows(first + world.take())) == sorted(world.edges)  # each follow once
    await _assert_erased(world, driver, redis)
