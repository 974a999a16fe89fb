"""Shared pieces of the graph tests: Neo4j, the graph service over gRPC, graph.* events, and
accounts registered through the gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import nats
from chirp.events.v1 import graph_events_pb2
from google.protobuf.message import Message
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from neo4j import AsyncDriver, AsyncGraphDatabase

from services.bootstrap.events import STREAM
from services.bootstrap.settings import Settings
from tests.integration.tweets.tokens import mint

SETTINGS = Settings(service="graph")
GATEWAY = "http://127.0.0.1:8080"
PASSWORD = "correct horse battery staple"  # noqa: S105  (a test account's)
WAIT_SECONDS = 15.0

MESSAGE_TYPES: dict[str, type[Message]] = {
    "graph.followed": graph_events_pb2.UserFollowedEvent,
    "graph.unfollowed": graph_events_pb2.UserUnfollowedEvent,
}
M = TypeVar("M", bound=Message)


def neo4j_driver() -> AsyncDriver:
    auth = (SETTINGS.neo4j_user, SETTINGS.neo4j_password) if SETTINGS.neo4j_password else None
    return AsyncGraphDatabase.driver(
        SETTINGS.neo4j_uri, auth=auth, notifications_min_severity="OFF"
    )


def metadata(user_id: int) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {mint(user_id)}"),)


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


async def register(client: httpx.AsyncClient, prefix: str = "g") -> Account:
    """A real account, registered and logged in through the gateway."""
    username = f"{prefix}{uuid.uuid4().hex[:12]}"
    created = await client.post("/v1/users", json={"username": username, "password": PASSWORD})
    assert created.status_code == 200, created.text
    session = await client.post("/v1/sessions", json={"username": username, "password": PASSWORD})
    assert session.status_code == 200, session.text
    return Account(int(created.json()["id"]), username, session.json()["accessToken"])


async def count_edges(driver: AsyncDriver, user_id: int) -> tuple[int, int, int, int]:
    """(followers by edges, following by edges, follower_count, following_count) of a node."""
    records, _, _ = await driver.execute_query(
        "MATCH (u:User {id: $id}) "
        "RETURN COUNT { (u)<-[:FOLLOWS]-() } AS followers, "
        "COUNT { (u)-[:FOLLOWS]->() } AS following, "
        "coalesce(u.follower_count, 0) AS follower_count, "
        "coalesce(u.following_count, 0) AS following_count",
        {"id": user_id},
    )
    (record,) = records
    return (
        record["followers"],
        record["following"],
        record["follower_count"],
        record["following_count"],
    )


@dataclass
class Received:
    events: list[Message] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def matching(self, kind: type[M], matches: Callable[[M], bool]) -> list[M]:
        return [event for event in self.events if isinstance(event, kind) and matches(event)]

    async def wait_for(self, kind: type[M], matches: Callable[[M], bool]) -> list[M]:
        async with asyncio.timeout(WAIT_SECONDS):
            while not (found := self.matching(kind, matches)):
                self.arrived.clear()
                await self.arrived.wait()
        return found


@asynccontextmanager
async def watching() -> AsyncIterator[Received]:
    """Every graph.* event published from now on, through a consumer deleted afterwards."""
    connection = await nats.connect(SETTINGS.nats_url)
    jetstream = connection.jetstream()
    name = f"test-graph-{uuid.uuid4().hex[:10]}"
    await jetstream.add_consumer(
        STREAM.name or "",
        ConsumerConfig(
            durable_name=name,
            filter_subjects=list(MESSAGE_TYPES),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
        ),
    )
    subscription = await jetstream.pull_subscribe_bind(name, stream=STREAM.name)
    received = Received()

    async def pump() -> None:
        while True:
            try:
                messages = await subscription.fetch(100, timeout=1)
            except TimeoutError:
                continue
            for message in messages:
                received.events.append(MESSAGE_TYPES[message.subject].FromString(message.data))
                await message.ack()
            received.arrived.set()

    task = asyncio.create_task(pump())
    try:
        yield received
    finally:
        task.cancel()
        await jetstream.delete_consumer(STREAM.name or "", name)
        await connection.close()
