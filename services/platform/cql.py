"""Cassandra/ScyllaDB access for asyncio code: one session per process, awaitable queries.

scylla-driver is callback based; ``execute`` bridges its futures into the running event loop so
a handler never blocks the loop on the network.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    ResponseFuture,
    ResultSet,
    Session,
)
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from services.platform.settings import StoreSettings


def connect(settings: StoreSettings) -> Session:
    """A session on the Chirp keyspace; token-aware, so each query goes to a replica."""
    profile = ExecutionProfile(load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()))
    cluster = Cluster(
        settings.cassandra_contact_points,
        port=settings.cassandra_port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=4,
    )
    return cluster.connect(settings.cassandra_keyspace)


async def execute(session: Session, statement: Any, parameters: Any = None) -> ResultSet:
    """Runs one statement without blocking the event loop; raises the driver's errors."""
    response: ResponseFuture = session.execute_async(statement, parameters)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[ResultSet] = loop.create_future()

    def resolve(_rows: object) -> None:
        loop.call_soon_threadsafe(_settle, done, response, None)

    def fail(error: BaseException) -> None:
        loop.call_soon_threadsafe(_settle, done, response, error)

    response.add_callbacks(resolve, fail)
    return await done


def _settle(
    done: asyncio.Future[ResultSet], response: ResponseFuture, error: BaseException | None
) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(response.result())
    else:
        done.set_exception(error)
