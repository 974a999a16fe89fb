"""Shared pieces of the graph tests: Neo4j, the graph service over gRPC, graph.* events, and
accounts registered through the gateway."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import httpx
from neo4j import AsyncDriver

from services.platform.graph_db import async_driver
from services.platform.settings import Settings
from tests.integration import streams
from tests.integration.streams import Received
from tests.integration.tweets.tokens import mint

SETTINGS = Settings(service="graph")
PASSWORD = "correct horse battery staple"  # noqa: S105  (a test account's)


def neo4j_driver() -> AsyncDriver:
    return async_driver(SETTINGS, notifications_min_severity="OFF")


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


async def register(client: httpx.AsyncClient, prefix: str = "g", *, username: str = "") -> Account:
    """A real account, registered and logged in through the gateway: ``username``, or a new
    name that starts with ``prefix``."""
    username = username or f"{prefix}{uuid.uuid4().hex[:12]}"
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


def watching() -> AbstractAsyncContextManager[Received]:
    """Every graph.* event published from now on, through a consumer deleted afterwards."""
    return streams.watching("graph")
