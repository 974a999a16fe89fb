"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cassandra.cluster import Session

from services.bootstrap import cql
from services.bootstrap.settings import StoreSettings


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """A Cassandra session on the product's keyspace (the local stack's), one per module."""
    session = cql.connect(StoreSettings())
    yield session
    session.cluster.shutdown()
