"""The outbox against the real Cassandra and NATS: stored with the write, published once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence

import nats
import pytest
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType
from cassandra.util import uuid_from_time
from chirp.events.v1 import user_events_pb2
from chirp.users.v1 import user_pb2
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.bootstrap import cql
from services.bootstrap.background import in_background, rounds
from services.bootstrap.events import STREAM
from services.bootstrap.migrate import migration_files, statements
from services.bootstrap.outbox import (
    HANDOFF_SECONDS,
    REPLAY_WINDOW_SECONDS,
    SHARDS,
    CassandraOutboxStore,
    Outbox,
    OutboxRelay,
    PendingEvent,
    new_event_id,
    running_relay,
)
from services.bootstrap.settings import StoreSettings

SETTINGS = StoreSettings()
SUBJECT = "users.updated"


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """A keyspace of its own: the running services' relays drain the product's outbox table,
    and these tests need rows that only their own relays see."""
    keyspace = "chirp_test_outbox"
    session = cql.connect(SETTINGS)
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} "
        f"WITH replication = {SETTINGS.cassandra_replication}"
    )
    session.set_keyspace(keyspace)
    (outbox_migration,) = (
        path for _, path in migration_files("cassandra") if "outbox" in path.name
    )
    for statement in statements(outbox_migration):
        session.execute(statement)
    yield session
    session.execute(f"DROP KEYSPACE {keyspace}")
    session.cluster.shutdown()


@pytest.fixture
async def received() -> AsyncIterator[asyncio.Queue[user_events_pb2.UserUpdatedEvent]]:
    """Every users.updated event published from now on, via a temporary durable consumer."""
    connection = await nats.connect(SETTINGS.nats_url)
    jetstream = connection.jetstream()
    durable = f"test-outbox-{uuid.uuid4().hex[:8]}"
    await jetstream.add_consumer(
        STREAM.name or "",
        ConsumerConfig(
            durable_name=durable,
            filter_subject=SUBJECT,
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
                queue.put_nowait(user_events_pb2.UserUpdatedEvent.FromString(message.data))
                await message.ack()

    async with in_background(pump):
        yield queue
    await jetstream.delete_consumer(STREAM.name or "", durable)
    await connection.close()


def _event(user_id: int) -> user_events_pb2.UserUpdatedEvent:
    return user_events_pb2.UserUpdatedEvent(
        event_id=new_event_id(), user=user_pb2.User(id=user_id, username=f"u{user_id}")
    )


async def _write(session: Session, outbox: Outbox, event: user_events_pb2.UserUpdatedEvent) -> None:
    batch = BatchStatement(batch_type=BatchType.LOGGED)
    row = outbox.add(batch, SUBJECT, event.user.id, event)
    await cql.execute(session, batch)
    outbox.committed(row)


async def _rows_for(session: Session, event: user_events_pb2.UserUpdatedEvent) -> int:
    rows = await cql.execute(
        session,
        "SELECT count(*) FROM outbox WHERE shard = %s AND event_id = %s",
        (event.user.id % SHARDS, uuid.UUID(event.event_id)),
    )
    count: int = rows.one()[0]
    return count


async def _next(
    queue: asyncio.Queue[user_events_pb2.UserUpdatedEvent], event_id: str, within: float = 10
) -> None:
    async with asyncio.timeout(within):
        while (await queue.get()).event_id != event_id:
            pass


async def test_an_event_survives_nats_being_unreachable_and_is_published_once(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    outbox = Outbox(session)
    event = _event(uuid.uuid4().int >> 80)
    await _write(session, outbox, event)

    # Relays of processes that come later: rows are read at once, as after the handoff.
    unreachable = OutboxRelay(
        CassandraOutboxStore(session, handoff_seconds=0), outbox, "nats://127.0.0.1:1"
    )
    with pytest.raises(Exception):  # noqa: B017, PT011  (any connection error)
        await unreachable.drain()
    assert await _rows_for(session, event) == 1  # kept for a later try

    relay = OutboxRelay(CassandraOutboxStore(session, handoff_seconds=0), outbox, SETTINGS.nats_url)
    try:
        assert await relay.drain() >= 1
        await _next(received, event.event_id)
        assert await _rows_for(session, event) == 0

        # A row published again (a relay that died before deleting it) is stored once.
        await _write(session, outbox, event)
        await relay.drain()
        with pytest.raises(TimeoutError):
            await _next(received, event.event_id, within=3)
    finally:
        await relay.close()


async def test_a_running_relay_publishes_as_soon_as_a_write_commits(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    outbox = Outbox(session)
    relay = OutboxRelay(
        CassandraOutboxStore(session), outbox, SETTINGS.nats_url, idle_poll_seconds=30
    )
    async with running_relay(relay):
        await asyncio.sleep(0.5)  # idle now, waiting up to 30 s unless woken
        events = [_event(uuid.uuid4().int >> 80) for _ in range(5)]
        for event in events:
            await _write(session, outbox, event)
        waiting = {event.event_id for event in events}
        async with asyncio.timeout(10):
            while waiting:  # shards are published one after another, so in any order
                waiting.discard((await received.get()).event_id)


class CountedReads(CassandraOutboxStore):
    """The Cassandra outbox store, counting how often the relay reads it and removes rows."""

    def __init__(self, session: Session, *, handoff_seconds: float = HANDOFF_SECONDS) -> None:
        super().__init__(session, handoff_seconds=handoff_seconds)
        self.reads = 0
        self.read = asyncio.Event()
        self.removed: list[str] = []

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        self.reads += 1
        self.read.set()
        return await super().pending(limit)

    async def remove(self, row: PendingEvent) -> None:
        self.removed.append(row.event_id)
        await super().remove(row)


async def test_rows_committed_in_the_relays_own_process_are_published_without_reading_the_store(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    outbox = Outbox(session)
    store = CountedReads(session)
    relay = OutboxRelay(store, outbox, SETTINGS.nats_url, idle_poll_seconds=30)
    async with running_relay(relay):
        async with asyncio.timeout(10):  # the first round reads what other processes left
            await store.read.wait()
        events = [_event(uuid.uuid4().int >> 80) for _ in range(20)]
        for event in events:
            await _write(session, outbox, event)
        waiting = {event.event_id for event in events}
        async with asyncio.timeout(10):
            while waiting:
                waiting.discard((await received.get()).event_id)
    assert store.reads == 1
    assert [await _rows_for(session, event) for event in events] == [0] * len(events)


async def test_a_row_both_handed_over_and_read_from_the_store_is_published_and_removed_once(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    outbox = Outbox(session)
    store = CountedReads(session, handoff_seconds=0)  # the store's rows are read at once
    relay = OutboxRelay(store, outbox, SETTINGS.nats_url, idle_poll_seconds=30)
    event = _event(uuid.uuid4().int >> 80)
    await _write(session, outbox, event)  # handed to the relay, which has not run yet
    assert await relay.drain() >= 1  # read from the store: published and removed
    store.read.clear()
    async with running_relay(relay):  # its first round takes what was handed, then reads
        async with asyncio.timeout(10):
            await store.read.wait()
            assert (await received.get()).event_id == event.event_id
    assert store.removed.count(event.event_id) == 1


async def test_the_store_gives_a_relay_only_rows_older_than_the_handoff(
    session: Session, received: asyncio.Queue[user_events_pb2.UserUpdatedEvent]
) -> None:
    """A row just written by another process is that process's relay's to publish (it was
    handed over there); this relay takes it only once it is older than the handoff."""
    elsewhere = Outbox(session)
    relay = OutboxRelay(
        CassandraOutboxStore(session, handoff_seconds=1.0), Outbox(session), SETTINGS.nats_url
    )
    event = _event(uuid.uuid4().int >> 80)
    await _write(session, elsewhere, event)
    await relay.drain()
    assert await _rows_for(session, event) == 1
    await asyncio.sleep(1.0)
    await relay.drain()
    assert await _rows_for(session, event) == 0
    async with asyncio.timeout(10):
        assert (await received.get()).event_id == event.event_id
    await relay.close()


async def test_a_read_that_found_nothing_is_where_the_next_read_starts(session: Session) -> None:
    """A shard's reads start a replay window before the newest point known clear, not at the
    oldest tombstone it holds: a row older than that (possible only for a batch committed that
    much later than its event id was taken, and left behind) is found by a process's first
    read."""
    store = CassandraOutboxStore(session, handoff_seconds=0)
    await store.pending(1000)  # nothing, or what earlier tests left: the shards are clear now
    old = uuid_from_time(time.time() - REPLAY_WINDOW_SECONDS - 60)
    await cql.execute(
        session,
        "INSERT INTO outbox (shard, event_id, subject, payload) VALUES (%s, %s, %s, %s)",
        (3, old, SUBJECT, b""),
    )
    assert str(old) not in {row.event_id for row in await store.pending(1000)}
    fresh = CassandraOutboxStore(session, handoff_seconds=0)
    (found,) = [row for row in await fresh.pending(1000) if row.event_id == str(old)]
    await fresh.remove(found)
