"""Fixtures of the graph tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from neo4j import AsyncDriver

from tests.integration.graph.support import neo4j_driver


@pytest.fixture
async def driver() -> AsyncIterator[AsyncDriver]:
    """A driver of the local stack's Neo4j."""
    driver = neo4j_driver()
    yield driver
    await driver.close()
