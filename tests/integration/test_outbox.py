"""The outbox against the real Cassandra and NATS: stored with the write, published once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType
from chirp.events.v1 import user_events_pb2
from chirp.users.v1 import user_pb2
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import REGISTRY

from services.platform import cql
from services.platform.background import in_background, rounds
from services.platform.consumers import connect
from services.platform.events import STREAM
from services.platform.migrate import change_schema, migration_files, statements
from services.platform.outbox import (
    CassandraOutboxStore,
    Outbox,
    OutboxRelay,
    PendingEvent,
    new_event_id,
    running_relay,
)
from services.platform.settings import StoreSettings
from services.platform.subjects import USERS_UPDATED
from tests.polling import eventually

SETTINGS = StoreSettings()
SUBJECT = USERS_UPDATED
#: Every outbox here has one-second buckets, so partitions are due within seconds.
BUCKET_SECONDS = 1


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """A keyspace of its own: the running services' relays drain the product's outbox table,
    and these tests need rows that only their own relays see."""
    keyspace = "chirp_test_outbox"
    session = cql.connect(SETTINGS)
    change_schema(
        session,
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} "
        f"WITH replication = {SETTINGS.cassandra_replication}",
    )
    session.set_keyspace(keyspace)
    outbox_migrations = [
        path for _, paths in migration_files(".cql") for path in paths if "outbox" in path.name
    ]
    for statement in (each for path in outbox_migrations for each in statements(path)):
        change_schema(session, statement)
    yield session
    change_schema(session, f"DROP KEYSPACE {keyspace}")
    session.cluster.shutdown()


@pytest.fixture
async def received() -> AsyncIterator[asyncio.Queue[user_events_pb2.UserUpdatedEvent]]:
    """Every users.updated event published from now on, via a temporary durable consumer."""
    connection = await connect(SETTINGS.nats_url)
    jetstream = connection.jetstream()
    durable = f"test-outbox-{uuid.uuid4().hex[:8]}"
    await jetstream.add_consumer(
        STREAM.name or "",
        ConsumerConfig(
            durable_name=durable,
            filter_subject=SUBJECT.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
        ),
    )
    subscription = await jetstream.pull_subscribe_bind(durable, stream=STREAM.name)
    queue: asyncio.Queue[user_events_pb2.UserUpdatedEvent] = asyncio.Queue()

    async def pump() -> None:
        for _ in rounds():
            try:
                messages = await subscription.fetch(10, timeout=1)
            except TimeoutError:
                continue
            for message in messages:
                queue.put_nowait(SUBJECT.decode(message.data))
                await message.ack()

    async with in_background(pump):
        yield queue
    await jetstream.delete_consumer(STREAM.name or "", durable)
    await connection.close()


def _event(user_id: int) -> user_events_pb2.UserUpdatedEvent:
    return user_events_pb2.UserUpdatedEvent(
        event_id=new_event_id(), user=user_pb2.User(id=user_id, username=f"u{user_id}")
    )


def _outbox(session: Session) -> Outbox:
    return Outbox(session, bucket_seconds=BUCKET_SECONDS)


async def _write(
    session: Session,
    outbox: Outbox,
    event: user_events_pb2.UserUpdatedEvent,
    *,
    acknowledged: bool = True,
) -> PendingEvent:
    """Writes ``event`` in a batch; one not ``acknowledged`` is stored but never handed to the
    relay, as when a batch timed out here and landed from the batch log."""
    batch = BatchStatement(batch_type=BatchType.LOGGED)
    row = outbox.add(batch, SUBJECT, event)
    await cql.execute(session, batch)
    if acknowledged:
        outbox.committed(row)
    return row


async def _stored(session: Session, row: PendingEvent) -> int:
    assert row.partition is not None
    rows = await cql.execute(
        session,
        "SELECT count(*) FROM outbox_events WHERE writer = %s AND bucket = %s AND event_id = %s",
        (row.partition.writer, row.partition.bucket, uuid.UUID(row.event_id)),
    )
    count: int = rows.one()[0]
    return count


async def _listed(session: Session, row: PendingEvent) -> bool:
    assert row.partition is not None
    rows = await cql.execute(
        session,
        "SELECT writer FROM outbox_partitions WHERE registry = 0 AND bucket = %s AND writer = %s",
        (row.partition.bucket, row.partition.writer),
    )
    return rows.one() is not None


async def _next(
    queue: asyncio.Queue[user_events_pb2.UserUpdatedEvent], event_id: str, within: float = 10
) -> None:
    async with asyncio.timeout(within):
        while (await queue.get()).event_id != event_id:
            pass


async def test_an_event_survives_nats_being_unreachable_and_is_published_once(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    """A process that died with an event unpublished: a later process's relay takes its
    partition over once abandoned, publishes it (not before NATS is reachable) and drops it."""
    event = _event(uuid.uuid4().int >> 80)
    row = await _write(session, _outbox(session), event)

    def later_relay(nats_url: str) -> OutboxRelay:  # the partition due at once when taken
        outbox = _outbox(session)
        store = CassandraOutboxStore(session, outbox, close_after_seconds=0)
        return OutboxRelay(store, outbox, nats_url)

    unreachable = later_relay("nats://127.0.0.1:1")
    with pytest.raises(Exception):  # noqa: B017, PT011  (any connection error)
        await unreachable.drain()
    assert await _stored(session, row) == 1  # kept for a later try

    relay = later_relay(SETTINGS.nats_url)
    try:
        assert await relay.drain() >= 1
        await _next(received, event.event_id)
        await relay.drain()  # every row of the partition published: dropped
        assert await _stored(session, row) == 0
        assert not await _listed(session, row)

        # A row published again (a relay that died before dropping it) is stored once.
        await _write(session, _outbox(session), event)
        await relay.drain()
        with pytest.raises(TimeoutError):
            await _next(received, event.event_id, within=3)
    finally:
        await relay.close()


async def test_a_running_relay_publishes_as_soon_as_a_write_commits(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    outbox = _outbox(session)
    relay = OutboxRelay(
        CassandraOutboxStore(session, outbox), outbox, SETTINGS.nats_url, idle_poll_seconds=30
    )
    async with running_relay(relay):
        await asyncio.sleep(0.5)  # idle now, waiting up to 30 s unless woken
        events = [_event(uuid.uuid4().int >> 80) for _ in range(5)]
        for event in events:
            await _write(session, outbox, event)
        waiting = {event.event_id for event in events}
        async with asyncio.timeout(10):
            while waiting:
                waiting.discard((await received.get()).event_id)


class CountedReads(CassandraOutboxStore):
    """The Cassandra outbox store, counting how often the relay reads it."""

    def __init__(self, session: Session, outbox: Outbox) -> None:
        super().__init__(session, outbox)
        self.reads = 0
        self.read = asyncio.Event()

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        self.reads += 1
        self.read.set()
        return await super().pending(limit)


async def test_rows_committed_in_the_relays_own_process_are_published_without_any_query(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    outbox = _outbox(session)
    store = CountedReads(session, outbox)
    relay = OutboxRelay(store, outbox, SETTINGS.nats_url, idle_poll_seconds=30)
    async with running_relay(relay):
        async with asyncio.timeout(10):  # the first round reads what other processes left
            await store.read.wait()
        events = [_event(uuid.uuid4().int >> 80) for _ in range(20)]
        rows = [await _write(session, outbox, event) for event in events]
        waiting = {event.event_id for event in events}
        async with asyncio.timeout(10):
            while waiting:
                waiting.discard((await received.get()).event_id)
    assert store.reads == 1
    # Nothing deleted row by row: the rows stay until their partition is dropped whole.
    assert [await _stored(session, row) for row in rows] == [1] * len(rows)


async def test_a_closed_partition_publishes_what_was_not_handed_over_then_is_dropped(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    outbox = _outbox(session)
    store = CassandraOutboxStore(session, outbox, close_after_seconds=0)
    relay = OutboxRelay(store, outbox, SETTINGS.nats_url, idle_poll_seconds=0.2)
    handed, unknown = _event(uuid.uuid4().int >> 80), _event(uuid.uuid4().int >> 80)
    async with running_relay(relay):
        rows = [
            await _write(session, outbox, handed),
            await _write(session, outbox, unknown, acknowledged=False),
        ]
        await _next(received, handed.event_id)
        await _next(received, unknown.event_id)  # read back when its bucket closed
        assert time.time() >= rows[1].partition.bucket + BUCKET_SECONDS  # type: ignore[union-attr]

        async def stored() -> list[int]:
            return [await _stored(session, row) for row in rows]

        await eventually(stored, lambda counts: counts == [0, 0])  # dropped once all published
    assert not await _listed(session, rows[0])


async def test_a_partition_is_taken_over_once_its_process_stops_saying_it_lives(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    """A partition of a live process is that process's relay's to publish and drop; another
    relay takes it once that process has not said it lives for a while (it died)."""
    event = _event(uuid.uuid4().int >> 80)
    elsewhere = _outbox(session)
    row = await _write(session, elsewhere, event)  # its process never publishes it
    await CassandraOutboxStore(session, elsewhere, alive_seconds=1).pending(10)  # "I live"
    outbox = _outbox(session)
    store = CassandraOutboxStore(session, outbox, close_after_seconds=0)
    relay = OutboxRelay(store, outbox, SETTINGS.nats_url)
    try:
        await relay.drain()  # what earlier tests left may be taken over, not this partition
        with pytest.raises(TimeoutError):
            await _next(received, event.event_id, within=0.5)
        assert await _listed(session, row)
        await asyncio.sleep(1.5)  # no word from it since
        assert await relay.drain() >= 1
        await _next(received, event.event_id)
        await relay.drain()
        assert await _stored(session, row) == 0
        assert not await _listed(session, row)
    finally:
        await relay.close()


async def test_a_process_taken_for_dead_that_writes_again_loses_nothing(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    """A process slow to say it lives (NATS or Cassandra away) has its partition taken over
    while it still writes to it: what it writes after the takeover is published all the same,
    even if it dies before publishing it (the chaos test lost a post this way)."""
    first, second = _event(uuid.uuid4().int >> 80), _event(uuid.uuid4().int >> 80)
    await asyncio.sleep(max(0.0, time.time() % 60 - 50))  # both writes in one minute's bucket
    slow = Outbox(session, bucket_seconds=60)
    rows = [await _write(session, slow, first, acknowledged=False)]
    await CassandraOutboxStore(session, slow, alive_seconds=1).pending(10)  # "I live", once
    outbox = Outbox(session, bucket_seconds=60)
    relay = OutboxRelay(CassandraOutboxStore(session, outbox), outbox, SETTINGS.nats_url)
    try:
        await asyncio.sleep(1.5)  # no word from it since: taken for dead
        await relay.drain()
        await _next(received, first.event_id)
        rows.append(await _write(session, slow, second, acknowledged=False))  # then it dies
        assert rows[1].partition == rows[0].partition
        await relay.drain()
        await _next(received, second.event_id)
        assert await _listed(session, rows[1])  # not due yet: read again until it is
    finally:
        await relay.close()


async def test_the_wait_of_the_oldest_unpublished_event_is_measured(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    """``chirp_outbox_oldest_waiting_seconds`` grows while NATS is away and is 0 once the
    relay has published everything (an alert watches it)."""
    event = _event(uuid.uuid4().int >> 80)
    outbox = _outbox(session)
    store = CassandraOutboxStore(session, outbox, close_after_seconds=0)  # read back at once
    away = OutboxRelay(store, outbox, "nats://127.0.0.1:1", idle_poll_seconds=0.2)
    async with running_relay(away):
        await _write(session, outbox, event)
        await eventually(_waiting, lambda seconds: seconds is not None and seconds >= 1.0)
    relay = OutboxRelay(store, outbox, SETTINGS.nats_url, idle_poll_seconds=0.2)
    async with running_relay(relay):  # NATS back: the row is read from the store and published
        await _next(received, event.event_id)
        await eventually(_waiting, lambda seconds: seconds == 0.0)


async def _waiting() -> float | None:
    return REGISTRY.get_sample_value("chirp_outbox_oldest_waiting_seconds")


class Rereading:
    """A store that gives the relay the same rows at every read until they are removed."""

    def __init__(self, rows: list[PendingEvent]) -> None:
        self.held = {row.event_id: row for row in rows}
        self.removed: list[str] = []
        self.written = asyncio.Event()

    def take(self) -> list[PendingEvent]:
        return []

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        return list(self.held.values())[:limit]

    async def remove(self, rows: Sequence[PendingEvent]) -> None:
        for row in rows:
            self.removed.append(row.event_id)
            self.held.pop(row.event_id, None)


async def test_a_row_published_lately_and_read_again_is_removed_again_not_published(
    received: asyncio.Queue[user_events_pb2.UserUpdatedEvent],
) -> None:
    """A store may read a row while the relay publishes it from memory (a partition closing
    under it): the relay must tell the store again, or the store holds it forever."""
    event = _event(uuid.uuid4().int >> 80)
    row = PendingEvent(event.event_id, SUBJECT.name, event.SerializeToString())
    store = Rereading([row])
    relay = OutboxRelay(store, store, SETTINGS.nats_url)
    try:
        assert await relay.drain() == 1
        await _next(received, event.event_id)
        store.held[row.event_id] = row  # read again
        assert await relay.drain() == 0  # not published again...
        assert store.removed == [row.event_id, row.event_id]  # ...but removed again
        assert store.held == {}
    finally:
        await relay.close()
