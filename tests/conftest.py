"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cassandra.cluster import Session
from redis.asyncio import Redis

from services.bootstrap import cql
from services.bootstrap.settings import StoreSettings

#: The local stack's gateway.
GATEWAY = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """A Cassandra session on the product's keyspace (the local stack's), one per module."""
    session = cql.connect(StoreSettings())
    yield session
    session.cluster.shutdown()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client of the local stack's Redis."""
    client = Redis.from_url(StoreSettings().redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the gateway."""
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as client:
        yield client
