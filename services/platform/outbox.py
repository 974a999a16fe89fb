"""The transactional outbox: no acknowledged write ever loses its event.

A write adds its event to the outbox in the same logged batch as its data (``Outbox.add``), so
once the write is acknowledged its event is stored, whatever NATS is doing at that moment. A
relay in every service process (``OutboxRelay``) publishes the rows to JetStream, with the
event id as ``Nats-Msg-Id`` so a row published twice within the stream's duplicate window is
stored once. The rows its own process committed are handed to it in memory
(``Outbox.committed``), so publishing them reads nothing and writes nothing.

In Cassandra the rows of each process (a *writer*, a random id per process) go to one partition
per ``BUCKET_SECONDS`` of time (``outbox_events``), listed in ``outbox_partitions``. No row is
ever deleted on its own (a delete per event was a third of a post's statements, and the
tombstones it left were what every read of the table scanned): the writer's relay *closes* each
of its partitions ``CLOSE_AFTER_SECONDS`` after its time is over (reads back the event ids,
publishes any it did not hand over, such as the row of a batch that timed out but landed from the
batch log, and then drops the whole partition: one delete per process per bucket). A partition
of a process that died (whose relay has not said it lives, in ``outbox_writers``, for
``ALIVE_SECONDS``), or still listed ``ABANDONED_AFTER_SECONDS`` after its time is over, is
taken over: any relay publishes its rows, reads it again at every round for rows it has not seen
(a process taken for dead may only have been slow to say it lives, with NATS or Cassandra away,
and still write to it) and drops it once due, as its own relay would have; one whose process
speaks again is left to it. The relay reads the store every ``STORE_READ_SECONDS`` for this.

Events are published in the order their process wrote them; events of one thing written by
different processes have no order between them (consumers are idempotent and keep no ordering
assumption across processes).

The relay works over any ``OutboxStore`` (``pending``/``remove``): the Cassandra tables here,
``(:OutboxEvent)`` nodes in Neo4j for the graph service (``services/graph/adapters/outbox.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import structlog
from cassandra.cluster import Session
from cassandra.query import BatchStatement, PreparedStatement
from cassandra.util import min_uuid_from_time, unix_time_from_uuid1
from prometheus_client import Counter, Gauge

from services.platform import tracing
from services.platform.background import in_background, pause, rounds, wait_set
from services.platform.consumers import Publisher
from services.platform.cql import execute
from services.platform.subjects import Event, Subject

#: The time each outbox partition of a process covers.
BUCKET_SECONDS = 60
#: How long after its bucket is over a process closes its own partition: longer than a batch
#: can take to land (a timed-out logged batch is replayed from the batch log within seconds).
CLOSE_AFTER_SECONDS = 60.0
#: How long after its bucket is over a partition still listed is taken over by any relay, even
#: one of a live process (which should have closed it long before).
ABANDONED_AFTER_SECONDS = 120.0
#: How often a relay reads the store for partitions that are due, and says its process lives.
STORE_READ_SECONDS = 5.0
#: How long a process counts as alive after it last said so: the partitions of one that died
#: are taken over this long after its death at most.
ALIVE_SECONDS = 15
#: Committed rows a relay holds in memory at most (more while NATS is away are published when
#: their partition is closed), and how many published event ids it remembers so as not to
#: publish twice.
HANDED_MAX = 10_000
PUBLISHED_REMEMBERED = 10_000
#: Rows read from a partition per query.
PAGE_ROWS = 5_000
#: ``outbox_partitions`` is one partition (a row per process and bucket, so small).
_REGISTRY = 0

log = structlog.get_logger()

E = TypeVar("E", bound=Event)

PUBLISHED = Counter(
    "chirp_outbox_published_total", "Events this process's outbox relay published to JetStream."
)
WAITING_SECONDS = Gauge(
    "chirp_outbox_oldest_waiting_seconds",
    "How long the oldest event this process's outbox relay holds has waited to be published "
    "(0: none waits): it grows while NATS is away or the relay falls behind.",
    multiprocess_mode="max",
)


def new_event_id() -> str:
    """A time-based UUID: outbox rows are ordered by it."""
    return str(uuid.uuid1())


@dataclass(frozen=True)
class Partition:
    """Where the Cassandra outbox keeps a row: its writer's partition of one time bucket."""

    writer: uuid.UUID
    bucket: int  # the unix second its time starts at


@dataclass(frozen=True)
class PendingEvent:
    """An outbox row waiting to be published; ``partition`` is where the store keeps it (None
    for stores without partitions)."""

    event_id: str
    subject: str
    payload: bytes
    partition: Partition | None = None
    #: The W3C ``traceparent`` of the write that added it ("" when it had none).
    traceparent: str = ""


class Handover:
    """The events a process's writers committed, handed to its relay in memory (``Wakeup``):
    ``written`` wakes the relay; past ``HANDED_MAX`` unpublished, the oldest are left to the
    store."""

    def __init__(self) -> None:
        self.written = asyncio.Event()
        self._handed: deque[PendingEvent] = deque(maxlen=HANDED_MAX)

    def committed(self, *rows: PendingEvent) -> None:
        """Hands the rows of an acknowledged write to this process's relay and wakes it."""
        self._handed.extend(rows)
        self.written.set()

    def take(self) -> list[PendingEvent]:
        rows = list(self._handed)
        self._handed.clear()
        return rows


class Outbox(Handover):
    """What a process's writers add to their batches, and hand to its relay once committed."""

    def __init__(self, session: Session, *, bucket_seconds: int = BUCKET_SECONDS) -> None:
        super().__init__()
        self.writer = uuid.uuid4()
        self.bucket_seconds = bucket_seconds
        self._insert = session.prepare(
            "INSERT INTO outbox_events (writer, bucket, event_id, subject, payload, traceparent) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        self._list = session.prepare(
            "INSERT INTO outbox_partitions (registry, bucket, writer) VALUES (?, ?, ?)"
        )
        #: Buckets written to (closed by this process's relay), and those known listed.
        self.buckets: set[int] = set()
        self._listed: set[int] = set()

    def add(self, batch: BatchStatement, subject: Subject[E], event: E) -> PendingEvent:
        """Adds ``event``, published on ``subject``, to ``batch`` (and, until a batch that did
        commits, the listing of this bucket's partition); pass what it returns to
        ``committed()`` once the batch is written."""
        now = int(time.time())
        bucket = now - now % self.bucket_seconds
        row = PendingEvent(
            event.event_id,
            subject.name,
            event.SerializeToString(),
            Partition(self.writer, bucket),
            tracing.traceparent(),
        )
        if bucket not in self._listed:
            batch.add(self._list, (_REGISTRY, bucket, self.writer))
        batch.add(
            self._insert,
            (
                self.writer,
                bucket,
                uuid.UUID(row.event_id),
                row.subject,
                row.payload,
                row.traceparent or None,
            ),
        )
        if bucket not in self.buckets:
            self._listed.intersection_update(self.buckets)  # forget the closed ones
            self.buckets.add(bucket)
        return row

    def committed(self, *rows: PendingEvent) -> None:
        """Also notes the rows' partitions as listed (the batch that listed them committed)."""
        self._listed.update(row.partition.bucket for row in rows if row.partition is not None)
        super().committed(*rows)


class OutboxStore(Protocol):
    """Where a service's outbox rows live: the relay reads them and removes the published."""

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        """Rows to publish now, the rows of one key in the order they were written (at most
        ``limit`` per partition)."""
        ...

    async def remove(self, rows: Sequence[PendingEvent]) -> None:
        """Forgets rows JetStream has acknowledged (each relay round's at once)."""
        ...


class Wakeup(Protocol):
    """Set by the writers of this process when they committed an outbox row."""

    written: asyncio.Event

    def take(self) -> list[PendingEvent]:
        """The rows committed in this process since the last call, if the writers hand them
        over (otherwise the relay reads the store)."""
        ...


class CassandraOutboxStore:
    """``outbox_events`` by writer and bucket: this process's partitions closed once due,
    abandoned ones taken over (see the module's docstring)."""

    def __init__(
        self,
        session: Session,
        outbox: Outbox,
        *,
        close_after_seconds: float = CLOSE_AFTER_SECONDS,
        abandoned_after_seconds: float = ABANDONED_AFTER_SECONDS,
        alive_seconds: int = ALIVE_SECONDS,
    ) -> None:
        self._session = session
        self._outbox = outbox
        self._close_after = close_after_seconds
        self._abandoned_after = abandoned_after_seconds
        self._alive_seconds = alive_seconds
        self._alive = session.prepare(
            "INSERT INTO outbox_writers (registry, writer) VALUES (?, ?) USING TTL ?"
        )
        self._living = session.prepare("SELECT writer FROM outbox_writers WHERE registry = ?")
        self._listed = session.prepare(
            "SELECT bucket, writer FROM outbox_partitions WHERE registry = ?"
        )
        self._ids = session.prepare(
            "SELECT event_id FROM outbox_events "
            "WHERE writer = ? AND bucket = ? AND event_id > ? LIMIT ?"
        )
        self._rows = session.prepare(
            "SELECT event_id, subject, payload, traceparent FROM outbox_events "
            "WHERE writer = ? AND bucket = ? AND event_id > ? LIMIT ?"
        )
        self._row = session.prepare(
            "SELECT event_id, subject, payload, traceparent FROM outbox_events "
            "WHERE writer = ? AND bucket = ? AND event_id = ?"
        )
        self._drop_events = session.prepare(
            "DELETE FROM outbox_events WHERE writer = ? AND bucket = ?"
        )
        self._unlist = session.prepare(
            "DELETE FROM outbox_partitions WHERE registry = ? AND bucket = ? AND writer = ?"
        )
        #: Event ids published of this process's partitions not yet closed.
        self._published: dict[Partition, set[str]] = {}
        #: Partitions being closed or taken over: the rows still to publish before the drop.
        self._closing: dict[Partition, dict[str, PendingEvent]] = {}
        #: Event ids of the partitions taken over that were queued (read again each round).
        self._taken: dict[Partition, set[str]] = {}

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        now = time.time()
        for bucket in sorted(self._outbox.buckets):
            if self._due(bucket, now):
                await self._close_own(Partition(self._outbox.writer, bucket))
        abandoned = await self._abandoned(now)
        for partition in abandoned:
            await self._take_over(partition)
        for partition in [p for p, waiting in self._closing.items() if not waiting]:
            if self._due(partition.bucket, now):
                await self._drop(partition)
            elif partition not in abandoned:  # its process lives after all: it closes its own
                self._forget(partition)
        return [row for waiting in self._closing.values() for row in list(waiting.values())[:limit]]

    async def remove(self, rows: Sequence[PendingEvent]) -> None:
        for row in rows:
            partition = row.partition
            if partition is None:
                continue
            waiting = self._closing.get(partition)
            if waiting is not None:
                waiting.pop(row.event_id, None)
            elif partition.writer == self._outbox.writer:
                self._published.setdefault(partition, set()).add(row.event_id)

    def _due(self, bucket: int, now: float) -> bool:
        """Whether a partition of ``bucket`` can be dropped: its time is over, and so is the
        time a batch written in it could still take to land."""
        return bucket + self._outbox.bucket_seconds + self._close_after <= now

    async def _close_own(self, partition: Partition) -> None:
        """Reads back the ids of one of this process's partitions; the rows it did not publish
        (their batch's outcome was unknown here, or NATS was away) are read whole and wait. A
        read that fails is done again at the next round."""
        published = self._published.get(partition, set())
        unpublished = [
            row.event_id
            async for row in self._read(partition, self._ids)
            if str(row.event_id) not in published
        ]
        waiting: dict[str, PendingEvent] = {}
        for event_id in unpublished:
            key = (partition.writer, partition.bucket, event_id)
            found = (await execute(self._session, self._row, key)).one()
            if found is not None:
                waiting[str(event_id)] = _pending(found, partition)
        self._closing[partition] = waiting
        self._outbox.buckets.discard(partition.bucket)
        self._published.pop(partition, None)

    async def _take_over(self, partition: Partition) -> None:
        """Queues the rows of another process's partition not queued before. Read again at
        every round until the partition is due: a process taken for dead may only have been
        slow to say it lives (NATS or Cassandra away), and may still write to it."""
        taken = self._taken.setdefault(partition, set())
        waiting = self._closing.setdefault(partition, {})
        async for row in self._read(partition, self._rows):
            event_id = str(row.event_id)
            if event_id not in taken:
                taken.add(event_id)
                waiting[event_id] = _pending(row, partition)

    async def _abandoned(self, now: float) -> list[Partition]:
        """Says this process lives; returns the listed partitions of other processes that do
        not, and those listed for longer than a live process keeps them."""
        writer = self._outbox.writer
        await execute(self._session, self._alive, (_REGISTRY, writer, self._alive_seconds))
        living = {row.writer for row in await execute(self._session, self._living, (_REGISTRY,))}
        overdue = now - self._abandoned_after - self._outbox.bucket_seconds
        return [
            Partition(row.writer, row.bucket)
            for row in await execute(self._session, self._listed, (_REGISTRY,))
            if row.writer != writer and (row.writer not in living or row.bucket <= overdue)
        ]

    async def _read(self, partition: Partition, statement: PreparedStatement) -> AsyncIterator[Any]:
        """The rows of ``partition`` by ``statement``, in pages of ``PAGE_ROWS``."""
        after = min_uuid_from_time(0)
        while True:
            key = (partition.writer, partition.bucket, after, PAGE_ROWS)
            rows = list(await execute(self._session, statement, key))
            for row in rows:
                yield row
            if len(rows) < PAGE_ROWS:
                return
            after = rows[-1].event_id

    async def _drop(self, partition: Partition) -> None:
        await execute(self._session, self._drop_events, (partition.writer, partition.bucket))
        await execute(self._session, self._unlist, (_REGISTRY, partition.bucket, partition.writer))
        self._forget(partition)

    def _forget(self, partition: Partition) -> None:
        del self._closing[partition]
        self._taken.pop(partition, None)


def _pending(row: Any, partition: Partition) -> PendingEvent:
    return PendingEvent(
        str(row.event_id), row.subject, row.payload, partition, row.traceparent or ""
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
        self._batch_size = batch_size
        self._idle_poll_seconds = idle_poll_seconds
        self._publisher = Publisher(nats_url)
        #: Event ids published lately (an ordered set: the oldest are forgotten first).
        self._published: OrderedDict[str, None] = OrderedDict()
        #: Rows handed over and not yet published (kept across failures; the oldest are left
        #: to the store past ``HANDED_MAX``).
        self._handed: deque[PendingEvent] = deque(maxlen=HANDED_MAX)
        #: Rows the last read of the store gave that are not published yet.
        self._read: deque[PendingEvent] = deque()

    async def drain(self) -> int:
        """Publishes every row the store holds now; returns how many were published."""
        self._read = deque(await self._store.pending(self._batch_size))
        return await self._publish(self._read)

    async def _publish(self, rows: deque[PendingEvent]) -> int:
        """Publishes ``rows`` in order, each taken off ``rows`` once acknowledged (a failure
        leaves the rest there), and removes them from the store at once. A row this relay
        published lately (one handed over may also have been read from the store) is not
        published again, but removed again: the store may have read it while it was being
        published, and holds it until told."""
        jetstream = await self._publisher.jetstream()
        published = 0
        acknowledged: list[PendingEvent] = []
        try:
            while rows:
                row = rows[0]
                if row.event_id not in self._published:
                    headers = {"Nats-Msg-Id": row.event_id}
                    with tracing.publish_span(row.subject, row.traceparent, headers):
                        await jetstream.publish(row.subject, row.payload, headers=headers)
                    published += 1
                    PUBLISHED.inc()
                    self._published[row.event_id] = None
                    if len(self._published) > PUBLISHED_REMEMBERED:
                        self._published.popitem(last=False)
                acknowledged.append(row)
                rows.popleft()
        finally:
            if acknowledged:
                await self._store.remove(acknowledged)
        return published

    async def run(self) -> None:
        backoff = 0.5
        loop = asyncio.get_running_loop()
        read_at = float("-inf")  # when the store was last read
        for _ in rounds():
            woken = self._outbox.written.is_set()
            self._outbox.written.clear()
            handed = self._outbox.take()
            self._handed.extend(handed)
            try:
                published = await self._publish(self._handed)
                # Read the store when it is time, or when woken by writers that hand nothing.
                if loop.time() - read_at >= self._idle_poll_seconds or (woken and not handed):
                    read_at = loop.time()
                    published += await self.drain()
                backoff = 0.5
            except Exception:
                # What was handed over and not published is tried again at the next round.
                log.warning("outbox relay cannot publish yet; retrying", exc_info=True)
                self._measure_waiting()
                read_at = float("-inf")
                await pause(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self._measure_waiting()
            if published == 0:
                await wait_set(self._outbox.written, self._idle_poll_seconds)

    def _measure_waiting(self) -> None:
        oldest = [rows[0] for rows in (self._handed, self._read) if rows]
        WAITING_SECONDS.set(max((_waited(row) for row in oldest), default=0.0))

    async def close(self) -> None:
        await self._publisher.close()


def _waited(row: PendingEvent) -> float:
    """How long ago ``row``'s event was made (its id is a time-based UUID)."""
    event_id = uuid.UUID(row.event_id)
    if event_id.version != 1:
        return 0.0
    made: float = unix_time_from_uuid1(event_id)
    return max(time.time() - made, 0.0)


@contextlib.asynccontextmanager
async def running_relay(relay: OutboxRelay) -> AsyncIterator[OutboxRelay]:
    """Runs the relay in the background for the life of the context."""
    try:
        async with in_background(relay.run):
            yield relay
    finally:
        await relay.close()
