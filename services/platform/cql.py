"""Cassandra/ScyllaDB access for asyncio code: one session per process, awaitable queries.

scylla-driver is callback based; ``execute`` bridges its futures into the running event loop so
a handler never blocks the loop on the network. Connections are plain text unless
``CHIRP_CASSANDRA_TLS`` says TLS (``cluster``).
"""

from __future__ import annotations

import asyncio
import functools
from collections import namedtuple
from collections.abc import Iterable, Sequence
from typing import Any

from cassandra import ConsistencyLevel, WriteTimeout
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    ResponseFuture,
    ResultSet,
    Session,
)
from cassandra.policies import DCAwareRoundRobinPolicy, RetryPolicy, TokenAwarePolicy, WriteType
from cassandra.query import BatchStatement, _clean_column_name

from services.platform import store_tls, tracing
from services.platform.settings import StoreSettings

#: How long a schema change may take to reach every node before ``migrate`` gives up on it
#: (the driver's default, 10 s, is tight for three nodes starting together on two cores).
SCHEMA_AGREEMENT_SECONDS = 30
#: Tries again of a logged batch whose batchlog timed out (``BatchlogRetryPolicy``): each waits
#: for the write timeout (2 s), so the five tries fill the driver's request timeout (10 s). A
#: dead node is convicted, and no longer chosen to hold batchlogs, only about 11.5 s after its
#: last heartbeat (devstack/cassandra_ring.py): a post in flight when a node dies fails after
#: 10 s with UNAVAILABLE, and its client's retry (same idempotency key) lands.
BATCHLOG_RETRIES = 4
#: Tries of an insert-if-absent whose Paxos round timed out (``insert_if_absent``).
CAS_ATTEMPTS = 3


class BatchlogRetryPolicy(RetryPolicy):  # type: ignore[misc]  # the driver has no types
    """The driver's retries, and a logged batch whose batchlog could not be written tried up to
    ``BATCHLOG_RETRIES`` times (the driver's own policy: once). Such a batch was not applied (its
    batchlog is written first), so trying again is safe; it fails that way while a node that
    just died is not yet known to be down and is chosen to hold batchlogs."""

    def on_write_timeout(  # noqa: PLR0913, PLR0917 (the driver's signature)
        self,
        query: Any,
        consistency: Any,
        write_type: Any,
        required_responses: int,
        received_responses: int,
        retry_num: int,
    ) -> tuple[Any, Any]:
        if write_type == WriteType.BATCH_LOG and retry_num < BATCHLOG_RETRIES:
            return self.RETRY, consistency
        decision: tuple[Any, Any] = super().on_write_timeout(
            query, consistency, write_type, required_responses, received_responses, retry_num
        )
        return decision


@functools.lru_cache(maxsize=1024)
def _row_type(columns: tuple[str, ...]) -> Any:
    return namedtuple("Row", map(_clean_column_name, columns), rename=True)  # noqa: PYI024


def row_factory(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[Any]:
    """Rows as the driver's ``named_tuple_factory`` makes them (``row.column``; ``[applied]``
    read as ``row.applied``), with one row class per list of columns instead of a new class
    for every result: building one took 85 µs, more than the rest of a short read's work in
    this process."""
    row = _row_type(tuple(columns))
    return [row(*values) for values in rows]


def cluster(settings: StoreSettings) -> Cluster:
    """The driver's view of the store, every contact point given (any one answering will do).

    Queries go to a replica of their partition in the local datacenter (token-aware), and every
    read and write waits for a quorum of that datacenter's replicas (LOCAL_QUORUM; LOCAL_SERIAL
    for lightweight transactions' Paxos): with three copies, one node can be down without a
    request refused, and a read always meets a copy of every acknowledged write. On one node
    both are one replica.

    With ``CHIRP_CASSANDRA_TLS``, every connection is over TLS (``store_tls``).
    """
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(
            DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)
        ),
        retry_policy=BatchlogRetryPolicy(),
        row_factory=row_factory,
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
    )
    return Cluster(
        settings.cassandra_contact_points,
        port=settings.cassandra_port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=4,
        max_schema_agreement_wait=SCHEMA_AGREEMENT_SECONDS,
        # The context checks host names, so the driver checks each node's certificate against
        # the address it dials (the node's own, as discovered), not one name for every node.
        ssl_context=store_tls.client_context() if settings.cassandra_tls else None,
    )


def connect(settings: StoreSettings) -> Session:
    """A session on the Chirp keyspace (see ``cluster``)."""
    return cluster(settings).connect(settings.cassandra_keyspace)


async def execute(session: Session, statement: Any, parameters: Any = None) -> ResultSet:
    """Runs one statement without blocking the event loop, as a span of the current trace;
    raises the driver's errors."""
    query = _query(statement)
    with tracing.client_span(_operation(query), "cassandra", **{"db.statement": query}):
        response: ResponseFuture = session.execute_async(statement, parameters)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[ResultSet] = loop.create_future()

        def resolve(_rows: object) -> None:
            loop.call_soon_threadsafe(_settle, done, response, None)

        def fail(error: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, response, error)

        response.add_callbacks(resolve, fail)
        return await done


def _query(statement: Any) -> str:
    if isinstance(statement, str):
        return statement
    if isinstance(statement, BatchStatement):
        return f"BATCH of {len(statement)}"
    return str(getattr(statement, "query_string", type(statement).__name__))


@functools.lru_cache(maxsize=1024)
def _operation(query: str) -> str:
    """A span's name: the statement's verb and table (``SELECT tweets``, ``BATCH of 4``)."""
    words = query.replace("(", " ").split()
    verb = words[0].upper() if words else "CQL"
    if verb == "BATCH":
        return query
    keyword = {"SELECT": "FROM", "DELETE": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE"}
    after = keyword.get(verb)
    uppers = [word.upper() for word in words]
    if after in uppers and uppers.index(after) + 1 < len(words):
        return f"{verb} {words[uppers.index(after) + 1]}"
    return verb


def _settle(
    done: asyncio.Future[ResultSet], response: ResponseFuture, error: BaseException | None
) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(response.result())
    else:
        done.set_exception(error)


async def insert_if_absent(session: Session, statement: Any, parameters: Any) -> Any:
    """The row of an ``INSERT ... IF NOT EXISTS`` of a value its writer made unique (its
    ``applied`` column, and the row there when not applied), tried again when Paxos timed out
    (contention, a replica just lost): a timed-out attempt may have landed or not, and trying
    again is safe either way, since if it landed, the row found is the writer's own value (which
    the caller then reads as its own)."""
    attempt = 1
    while True:
        try:
            return (await execute(session, statement, parameters)).one()
        except WriteTimeout as error:
            if error.write_type not in (WriteType.CAS, "CAS") or attempt == CAS_ATTEMPTS:
                raise
            attempt += 1
