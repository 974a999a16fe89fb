"""Fixtures shared by the whole suite, and what a test that hangs prints."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest
from cassandra.cluster import Session
from redis.asyncio import Redis

from services.platform import cql
from services.platform.background import awaiting_stack
from services.platform.redis_clients import resp_client
from services.platform.resp import RespClient
from services.platform.settings import StoreSettings
from tests import redis_py
from tests.stack import GATEWAY


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """A Cassandra session on the product's keyspace (the local stack's), one per module."""
    session = cql.connect(StoreSettings())
    yield session
    session.cluster.shutdown()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A redis-py client of the stack's Redis (``tests/redis_py.py``)."""
    client = redis_py.async_client()
    yield client
    await client.aclose()


@pytest.fixture
async def resp() -> AsyncIterator[RespClient]:
    """The product's own Redis client on the local stack's Redis (``Resp``, or ``ClusterResp``
    on a cluster: ``services/platform/redis_clients.py``)."""
    client = resp_client(StoreSettings().redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the gateway."""
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as client:
        yield client


#: The tier that needs the cluster shape (the three-node NATS cluster, the Redis Cluster), not the
#: single-node stack: it runs only when ``-m`` names it.
CLUSTER = "cluster"
#: The tiers (markers in pyproject.toml), each a folder under tests/; a test file directly in
#: tests/ is a unit test.
TIERS = ("unit", "integration", "e2e", CLUSTER)
#: Suites run against a fake and a real adapter alike: each parameter carries its own tier.
CONTRACTS = "contracts"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Gives each test its tier: the one it carries (from ``pytest.param(..., marks=...)``), else
    its folder's. A test carrying two tiers, or a contract test carrying none, is an error, so
    ``-m unit`` never selects a test that needs a server. The cluster tier is left out unless
    ``-m`` names it."""
    tests = Path(__file__).parent
    for item in items:
        carried = [tier for tier in TIERS if item.get_closest_marker(tier)]
        folder = item.path.relative_to(tests).parts[0]
        if len(carried) > 1:
            raise pytest.UsageError(f"{item.nodeid} carries more than one tier: {carried}")
        if not carried and folder == CONTRACTS:
            raise pytest.UsageError(f"{item.nodeid}: a contract test's parameters carry its tier")
        if not carried:
            item.add_marker(folder if folder in TIERS else "unit")
    if CLUSTER not in config.getoption("markexpr"):
        cluster = [item for item in items if item.get_closest_marker(CLUSTER)]
        config.hook.pytest_deselected(items=cluster)
        items[:] = [item for item in items if not item.get_closest_marker(CLUSTER)]
    # Chaos tests restart every component of the stack: the tests after them would meet cold
    # caches, connections being made again and a store still warming up, so they run last.
    items.sort(key=lambda item: item.get_closest_marker("chaos") is not None)


@pytest.hookimpl(wrapper=True)
def pytest_timeout_set_timer(item: pytest.Item) -> Generator[None, Any, Any]:
    """pytest-timeout (``timeout`` in pyproject.toml) dumps every thread's stack when a test
    runs out of time; this adds every asyncio task's, since a coroutine stuck in an ``await``
    is on no thread's stack (the loop is just waiting in ``select``)."""
    result = yield
    fire = signal.getsignal(signal.SIGALRM)
    if callable(fire):

        def dump_tasks_then_fire(signum: int, frame: FrameType | None) -> None:
            __tracebackhide__ = True
            item.config.get_terminal_writer().write(_task_stacks())
            fire(signum, frame)

        signal.signal(signal.SIGALRM, dump_tasks_then_fire)
    return result


def _task_stacks() -> str:
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # no event loop is running
        return ""
    return "".join(f"\n--- asyncio task {awaiting_stack(task)}" for task in tasks)
