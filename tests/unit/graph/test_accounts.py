"""The ``graph-users`` consumer: each account's node made on ``users.created``, and erased with
every follow on ``users.deleted`` once the delete has had its grace."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import cast

from chirp.users.v1 import user_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.msg import Msg

from services.graph.consumers.accounts import AccountNodes
from services.graph.service import GraphService
from services.platform.subjects import USERS_CREATED, USERS_DELETED
from tests.limiting import CountingLimiter
from tests.unit.graph.fakes import CountedChanges, KeptSuggestions, MemoryDirectory, MemoryStore
from tests.unit.test_consumers import Delivered

GRACE = 0.3


def _world(known: set[int]) -> tuple[AccountNodes, MemoryStore]:
    store, changes = MemoryStore(), CountedChanges()
    suggestions = KeptSuggestions(changes)
    directory = MemoryDirectory({f"user{user_id}": user_id for user_id in known})
    graph = GraphService(
        store, directory, changes, store, suggestions, suggestions, CountingLimiter()
    )
    return AccountNodes("nats://unused", graph, grace_seconds=GRACE), store


def _created(user_id: int) -> Delivered:
    event = USERS_CREATED.type(user=user_pb2.User(id=user_id))
    return Delivered(event.SerializeToString(), USERS_CREATED.name)


def _deleted(user_id: int, ago: timedelta) -> Delivered:
    occur_time = Timestamp()
    occur_time.FromDatetime(datetime.now(UTC) - ago)
    event = USERS_DELETED.type(user_id=user_id, occur_time=occur_time)
    return Delivered(event.SerializeToString(), USERS_DELETED.name)


async def test_each_subject_goes_to_its_handler_in_stream_order() -> None:
    nodes, store = _world(known={1})
    await store.follow(2, 1)
    await store.follow(3, 2)
    messages = [
        _created(1),
        _deleted(2, ago=timedelta(minutes=1)),
        _created(2),  # redelivered after the delete was applied: no node again
    ]
    await nodes.handler()(cast("list[Msg]", messages))
    assert [m.outcome for m in messages] == [[("ack", None)]] * 3
    assert store.nodes == {1, 3}
    assert store.edges == {}


async def test_an_erasure_waits_until_the_delete_is_a_grace_old() -> None:
    nodes, store = _world(known=set())
    for user_id, ago, waited in ((4, timedelta(0), GRACE), (5, timedelta(minutes=1), 0.0)):
        await store.follow(user_id, 9)
        start = time.monotonic()
        await nodes.handler()(cast("list[Msg]", [_deleted(user_id, ago)]))
        assert waited * 0.8 <= time.monotonic() - start < waited + 0.2
        assert user_id not in store.nodes
