"""The transactional outbox: no acknowledged write ever loses its event.

A write adds its event to the ``outbox`` table in the same logged batch as its data
(``Outbox.add``), so once the write is acknowledged its event is stored, whatever NATS is doing
at that moment. A relay in every service process (``OutboxRelay``) publishes the rows to
JetStream, with the event id as ``Nats-Msg-Id`` so a row published twice is stored once, and
deletes them after JetStream acknowledged. The rows its own process committed are handed to it
in memory (``Outbox.committed``), so publishing them reads nothing; every
``STORE_READ_SECONDS`` it also reads the store for rows other processes (or a crashed one) left
behind: rows older than ``HANDOFF_SECONDS``, so that the relays of other processes sharing the
table do not race its own for rows just handed to it (each would publish and delete them
again). Reading the Cassandra table scans the tombstones of the rows published lately, so it is
read seldom, and from a little before the newest row known published or found absent: never
from the oldest tombstone a shard still holds (an hour of them, which a relay that publishes
little from a shard used to scan every second).

Rows are sharded by the key of the thing they describe (a tweet id, a user id), so the events
of one thing are published in the order they were written.

The relay works over any ``OutboxStore`` (``pending``/``remove``): the Cassandra ``outbox`` table
here, ``(:OutboxEvent)`` nodes in Neo4j for the graph service (``services/graph/outbox.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import nats
import structlog
from cassandra.cluster import Session
from cassandra.query import BatchStatement
from cassandra.util import max_uuid_from_time, min_uuid_from_time, unix_time_from_uuid1
from nats.aio.client import Client as NatsClient

from services.bootstrap.background import in_background, pause, rounds, wait_set
from services.bootstrap.consumers import close_connection
from services.bootstrap.cql import execute

SHARDS = 16
#: How far behind its last published event the relay looks again, for rows whose batch
#: committed after a later row of the same shard (event ids are taken before the write).
REPLAY_WINDOW_SECONDS = 60.0
#: How often a relay reads the store for rows its own process did not hand over (another
#: process's, or its own that a failure dropped: those are read at the next round).
STORE_READ_SECONDS = 5.0
#: How old a row must be before the store's readers take it: younger ones are being published
#: by the process that wrote them.
HANDOFF_SECONDS = 2.0
#: Committed rows a relay holds in memory at most (more while NATS is away are left to its scan
#: of the store), and how many published event ids it remembers so as not to publish twice.
HANDED_MAX = 10_000
PUBLISHED_REMEMBERED = 10_000

log = structlog.get_logger()


class Event(Protocol):
    """Every ``chirp.events.v1`` message: an ``event_id`` and protobuf serialization."""

    event_id: str

    def SerializeToString(self) -> bytes: ...


def new_event_id() -> str:
    """A time-based UUID: outbox rows are ordered by it."""
    return str(uuid.uuid1())


@dataclass(frozen=True)
class PendingEvent:
    """An outbox row waiting to be published; ``partition`` is where the store keeps it (the
    Cassandra shard; 0 for stores without partitions)."""

    event_id: str
    subject: str
    payload: bytes
    partition: int = 0


class Outbox:
    def __init__(self, session: Session) -> None:
        self._insert = session.prepare(
            "INSERT INTO outbox (shard, event_id, subject, payload) VALUES (?, ?, ?, ?)"
        )
        self.written = asyncio.Event()
        self._handed: deque[PendingEvent] = deque(maxlen=HANDED_MAX)

    def add(self, batch: BatchStatement, subject: str, key: int, event: Event) -> PendingEvent:
        """Adds ``event`` to ``batch``; pass what it returns to ``committed()`` once the batch
        is written."""
        row = PendingEvent(event.event_id, subject, event.SerializeToString(), key % SHARDS)
        batch.add(self._insert, (row.partition, uuid.UUID(row.event_id), subject, row.payload))
        return row

    def committed(self, *rows: PendingEvent) -> None:
        """Hands the rows of an acknowledged batch to this process's relay and wakes it."""
        self._handed.extend(rows)
        self.written.set()

    def take(self) -> list[PendingEvent]:
        rows = list(self._handed)
        self._handed.clear()
        return rows


class OutboxStore(Protocol):
    """Where a service's outbox rows live: the relay reads them and removes the published."""

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        """Rows to publish now, the rows of one key in the order they were written (at most
        ``limit`` per partition)."""
        ...

    async def remove(self, row: PendingEvent) -> None:
        """Forgets a row JetStream has acknowledged."""
        ...


class Wakeup(Protocol):
    """Set by the writers of this process when they committed an outbox row."""

    written: asyncio.Event

    def take(self) -> list[PendingEvent]:
        """The rows committed in this process since the last call, if the writers hand them
        over (otherwise the relay reads the store)."""
        ...


class CassandraOutboxStore:
    """The ``outbox`` table: rows by shard, each shard read from a little
    (``REPLAY_WINDOW_SECONDS``) before the newest event this process published from it or
    found nothing unpublished below, up to ``handoff_seconds`` ago."""

    def __init__(self, session: Session, *, handoff_seconds: float = HANDOFF_SECONDS) -> None:
        self._session = session
        self._handoff_seconds = handoff_seconds
        self._select = session.prepare(
            "SELECT event_id, subject, payload FROM outbox "
            "WHERE shard = ? AND event_id > ? AND event_id < ? LIMIT ?"
        )
        self._delete = session.prepare("DELETE FROM outbox WHERE shard = ? AND event_id = ?")
        self._floors = dict.fromkeys(range(SHARDS), 0.0)

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        found: list[PendingEvent] = []
        until_time = time.time() - self._handoff_seconds
        until = max_uuid_from_time(until_time)
        for shard in range(SHARDS):
            since = min_uuid_from_time(max(self._floors[shard] - REPLAY_WINDOW_SECONDS, 0))
            rows = list(await execute(self._session, self._select, (shard, since, until, limit)))
            if not rows:
                # Nothing below ``until`` is left: later reads start a window before it, not
                # from the oldest tombstone the shard still holds (an hour of them).
                self._floors[shard] = max(self._floors[shard], until_time)
            found.extend(
                PendingEvent(str(row.event_id), row.subject, row.payload, shard) for row in rows
            )
        return found

    async def remove(self, row: PendingEvent) -> None:
        event_id = uuid.UUID(row.event_id)
        await execute(self._session, self._delete, (row.partition, event_id))
        self._floors[row.partition] = max(
            self._floors[row.partition], unix_time_from_uuid1(event_id)
        )


class OutboxRelay:
    """Publishes the rows of an ``OutboxStore`` and removes them once JetStream acknowledged;
    ``wakeup`` is the writers' signal."""

    def __init__(
        self,
        store: OutboxStore,
        wakeup: Wakeup,
        nats_url: str,
        *,
        batch_size: int = 200,
        idle_poll_seconds: float = STORE_READ_SECONDS,
    ) -> None:
        self._store = store
        self._outbox = wakeup
        self._nats_url = nats_url
        self._batch_size = batch_size
        self._idle_poll_seconds = idle_poll_seconds
        self._connection: NatsClient | None = None
        #: Event ids published lately, each with whether its row was removed since.
        self._published: OrderedDict[str, bool] = OrderedDict()

    async def _jetstream(self) -> nats.js.JetStreamContext:
        if self._connection is None or self._connection.is_closed:
            # Few reconnect attempts: while NATS is away, run() owns the retrying (with
            # backoff), so an unreachable server fails a drain instead of hanging it.
            self._connection = await nats.connect(
                self._nats_url, connect_timeout=2, max_reconnect_attempts=2, reconnect_time_wait=0.5
            )
        return self._connection.jetstream(timeout=5)

    async def drain(self) -> int:
        """Publishes every row the store holds now; returns how many were published."""
        return await self._publish(await self._store.pending(self._batch_size))

    async def _publish(self, rows: Iterable[PendingEvent]) -> int:
        """Publishes ``rows`` in order, each removed once acknowledged. A row this relay
        published lately (one handed over may also have been read from the store) is not
        published again, and not removed again once it was."""
        jetstream = await self._jetstream()
        published = 0
        for row in rows:
            removed = self._published.get(row.event_id)
            if removed:
                continue
            if removed is None:
                headers = {"Nats-Msg-Id": row.event_id}
                await jetstream.publish(row.subject, row.payload, headers=headers)
                published += 1
                self._published[row.event_id] = False
                if len(self._published) > PUBLISHED_REMEMBERED:
                    self._published.popitem(last=False)
            await self._store.remove(row)
            self._published[row.event_id] = True
        return published

    async def run(self) -> None:
        backoff = 0.5
        loop = asyncio.get_running_loop()
        read_at = float("-inf")  # when the store was last read
        for _ in rounds():
            woken = self._outbox.written.is_set()
            self._outbox.written.clear()
            handed = self._outbox.take()
            try:
                published = await self._publish(handed)
                # Read the store when it is time, or when woken by writers that hand nothing.
                if loop.time() - read_at >= self._idle_poll_seconds or (woken and not handed):
                    read_at = loop.time()
                    published += await self.drain()
                backoff = 0.5
            except Exception:
                # What was handed over is in the store: the next round reads it from there.
                log.warning("outbox relay cannot publish yet; retrying", exc_info=True)
                read_at = float("-inf")
                await pause(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if published == 0:
                await wait_set(self._outbox.written, self._idle_poll_seconds)

    async def close(self) -> None:
        if self._connection is not None:
            await close_connection(self._connection)


@contextlib.asynccontextmanager
async def running_relay(relay: OutboxRelay) -> AsyncIterator[OutboxRelay]:
    """Runs the relay in the background for the life of the context."""
    try:
        async with in_background(relay.run):
            yield relay
    finally:
        await relay.close()
