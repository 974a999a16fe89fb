"""The running graph service over gRPC, against the real Neo4j, NATS and users service."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest
from chirp.events.v1 import graph_events_pb2
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from neo4j import AsyncDriver

from services.graph.adapters.outbox import Neo4jOutboxStore
from services.platform.outbox import OutboxRelay, new_event_id
from tests.integration.graph.support import (
    SETTINGS,
    Account,
    count_edges,
    metadata,
    register,
    watching,
)
from tests.integration.tweets.tokens import random_user_id

if TYPE_CHECKING:  # the async stub type exists only in the generated .pyi
    Stub = graph_service_pb2_grpc.GraphServiceAsyncStub


@pytest.fixture
async def graph() -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(SETTINGS.graph_addr) as channel:
        yield graph_service_pb2_grpc.GraphServiceStub(channel)


@pytest.fixture
async def target(http: httpx.AsyncClient) -> Account:
    return await register(http, "gt")


async def _follow(graph: Stub, user_id: int, username: str) -> None:
    await graph.FollowUser(
        graph_service_pb2.FollowUserRequest(username=username), metadata=metadata(user_id)
    )


async def _unfollow(graph: Stub, user_id: int, username: str) -> None:
    await graph.UnfollowUser(
        graph_service_pb2.UnfollowUserRequest(username=username), metadata=metadata(user_id)
    )


async def test_counts_equal_edges_after_200_concurrent_follows_and_unfollows(
    graph: Stub, driver: AsyncDriver, target: Account
) -> None:
    fans = [random_user_id() for _ in range(100)]
    operations = [_follow(graph, fan, target.username) for fan in fans] + [
        _unfollow(graph, fan, target.username) for fan in fans
    ]
    random.shuffle(operations)
    await asyncio.gather(*operations)

    followers, _, follower_count, _ = await count_edges(driver, target.id)
    assert follower_count == followers
    answer = await graph.BatchGetFollowCounts(
        graph_service_pb2.BatchGetFollowCountsRequest(user_ids=[target.id])
    )
    assert answer.counts[0].follower_count == followers
    for fan in fans:
        _, following, _, following_count = await count_edges(driver, fan)
        assert following_count == following in (0, 1)


async def test_follow_events_are_published_once_per_change(graph: Stub, target: Account) -> None:
    fan = random_user_id()
    async with watching() as received:
        await _follow(graph, fan, target.username)
        await _follow(graph, fan, target.username)  # no change, no event
        await _unfollow(graph, fan, target.username)
        await _unfollow(graph, fan, target.username)
        (followed,) = await received.wait_for(
            graph_events_pb2.UserFollowedEvent, lambda e: e.follower_id == fan
        )
        (unfollowed,) = await received.wait_for(
            graph_events_pb2.UserUnfollowedEvent, lambda e: e.follower_id == fan
        )
        await asyncio.sleep(2)  # anything extra would have arrived by now
        assert (
            len(
                received.matching(
                    graph_events_pb2.UserFollowedEvent, lambda e: e.follower_id == fan
                )
            )
            == 1
        )
        assert (
            len(
                received.matching(
                    graph_events_pb2.UserUnfollowedEvent, lambda e: e.follower_id == fan
                )
            )
            == 1
        )
    assert followed.followee_id == unfollowed.followee_id == target.id
    assert followed.event_id != unfollowed.event_id
    assert followed.occur_time.ToMilliseconds() <= unfollowed.occur_time.ToMilliseconds()


async def test_an_outbox_node_drained_by_two_relays_is_stored_once(driver: AsyncDriver) -> None:
    """The service's relay and this one both see the node: Nats-Msg-Id dedupes them."""
    fan = random_user_id()
    event = graph_events_pb2.UserFollowedEvent(
        event_id=new_event_id(), follower_id=fan, followee_id=random_user_id()
    )
    store = Neo4jOutboxStore(driver)
    relay = OutboxRelay(store, store, SETTINGS.nats_url)
    async with watching() as received:
        await driver.execute_query(
            "CREATE (:OutboxEvent {event_id: $id, subject: 'graph.followed', key: $key, "
            "payload: $payload, create_time: 0})",
            {"id": event.event_id, "key": fan, "payload": event.SerializeToString()},
        )
        try:
            await relay.drain()
        finally:
            await relay.close()
        await received.wait_for(graph_events_pb2.UserFollowedEvent, lambda e: e.follower_id == fan)
        await asyncio.sleep(2.5)  # the service relay polls every second
        assert received.matching(
            graph_events_pb2.UserFollowedEvent, lambda e: e.follower_id == fan
        ) == [event]
    # Deleted by the service's relay, or by this one before it reads the store again.
    assert event.event_id not in {row.event_id for row in await store.pending(10)}
    records, _, _ = await driver.execute_query(
        "MATCH (e:OutboxEvent {event_id: $id}) RETURN count(e) AS n", {"id": event.event_id}
    )
    assert records[0]["n"] == 0


async def test_a_registered_account_gets_its_node(
    http: httpx.AsyncClient, driver: AsyncDriver
) -> None:
    account = await register(http, "gn")
    async with asyncio.timeout(15):
        while True:
            records, _, _ = await driver.execute_query(
                "MATCH (u:User {id: $id}) RETURN count(u) AS n", {"id": account.id}
            )
            if records[0]["n"] == 1:
                break
            await asyncio.sleep(0.2)


async def test_stream_followers_sends_batches_of_the_requested_size(
    graph: Stub, target: Account
) -> None:
    fans = [random_user_id() for _ in range(25)]
    await asyncio.gather(*(_follow(graph, fan, target.username) for fan in fans))
    batches = [
        list(message.follower_ids)
        async for message in graph.StreamFollowers(
            graph_service_pb2.StreamFollowersRequest(user_id=target.id, batch_size=10)
        )
    ]
    assert [len(batch) for batch in batches] == [10, 10, 5]
    assert sorted(id_ for batch in batches for id_ in batch) == sorted(fans)
    nobody = graph.StreamFollowers(
        graph_service_pb2.StreamFollowersRequest(user_id=random_user_id())
    )
    assert [message async for message in nobody] == []
    with pytest.raises(grpc.aio.AioRpcError) as error:
        async for _ in graph.StreamFollowers(graph_service_pb2.StreamFollowersRequest(user_id=0)):
            pass
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_internal_lookups(graph: Stub, target: Account) -> None:
    fan, other = random_user_id(), random_user_id()
    await _follow(graph, fan, target.username)
    counts = await graph.BatchGetFollowCounts(
        graph_service_pb2.BatchGetFollowCountsRequest(user_ids=[fan, other, target.id])
    )
    assert [(c.user_id, c.follower_count, c.following_count) for c in counts.counts] == [
        (fan, 0, 1),
        (other, 0, 0),
        (target.id, 1, 0),
    ]
    edges = [
        graph_service_pb2.FollowEdge(follower_id=target.id, followee_id=fan),
        graph_service_pb2.FollowEdge(follower_id=fan, followee_id=target.id),
    ]
    checks = await graph.BatchCheckFollows(graph_service_pb2.BatchCheckFollowsRequest(edges=edges))
    assert [(c.edge, c.follows) for c in checks.checks] == [(edges[0], False), (edges[1], True)]

    relationship = await graph.GetRelationship(
        graph_service_pb2.GetRelationshipRequest(source_user_id=target.id, target_user_id=fan)
    )
    assert (relationship.following, relationship.followed_by) == (False, True)

    ids = await graph.ListFollowingIds(graph_service_pb2.ListFollowingIdsRequest(user_id=fan))
    assert list(ids.user_ids) == [target.id]
    assert ids.next_page_token == ""
    celebrities = await graph.ListFollowingIds(
        graph_service_pb2.ListFollowingIdsRequest(user_id=fan, min_follower_count=2)
    )
    assert list(celebrities.user_ids) == []

    for call in (
        graph.BatchGetFollowCounts(
            graph_service_pb2.BatchGetFollowCountsRequest(user_ids=list(range(1, 102)))
        ),
        graph.GetRelationship(graph_service_pb2.GetRelationshipRequest(source_user_id=1)),
        graph.ListFollowingIds(
            graph_service_pb2.ListFollowingIdsRequest(user_id=fan, min_follower_count=-1)
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
