"""Every long-running loop of the product stops when it is cancelled at the moment it wakes,
every time (a loop whose wait swallows that cancellation runs forever: the outbox relay's idle
wait once did, and hung). Each runs against the real NATS and Redis; each is cancelled right as
it wakes, many times."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import nats
import pytest
from chirp.events.v1 import user_events_pb2
from nats.aio.msg import Msg
from redis.asyncio import Redis

from services.platform.consumers import DurableConsumer, connect
from services.platform.ids import leased_snowflake
from services.platform.outbox import OutboxRelay, PendingEvent, new_event_id
from services.platform.resp import RespClient
from services.platform.settings import StoreSettings
from services.search.adapters.trend_store import RedisTrendStore
from services.search.consumers.trends import TrendsWorker
from services.search.trends import TrendService
from tests.cancellation import stops_every_time
from tests.integration.search.test_trends import PARAMS
from tests.integration.streams import killable_consumer, temporary_consumer

SETTINGS = StoreSettings()
SUBJECT = "users.updated"


class EmptyOutbox:
    """An outbox with nothing to publish that says when the relay last looked (the domain
    side of the relay; NATS is real)."""

    def __init__(self) -> None:
        self.polled = asyncio.Event()
        self.written = asyncio.Event()

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        del limit
        self.polled.set()
        return []

    async def remove(self, rows: Sequence[PendingEvent]) -> None:
        raise AssertionError(f"nothing was pending, yet {rows} were removed")

    def take(self) -> list[PendingEvent]:
        return []


async def test_the_outbox_relay_stops_when_cancelled_as_a_write_wakes_it() -> None:
    """On the old code (``wait_for`` around the idle wait) this hung in the first round: the
    relay goes idle synchronously after an empty poll, so the write and the cancellation land
    in the same loop iteration every time."""
    outbox = EmptyOutbox()
    relay = OutboxRelay(outbox, outbox, SETTINGS.nats_url, idle_poll_seconds=30)

    async def write() -> None:
        await outbox.polled.wait()
        outbox.polled.clear()
        outbox.written.set()

    try:
        await stops_every_time(relay.run, write)
    finally:
        await relay.close()


@pytest.fixture
async def jetstream() -> AsyncIterator[nats.js.JetStreamContext]:
    connection = await connect(SETTINGS.nats_url)
    yield connection.jetstream()
    await connection.close()


async def _publish(jetstream: nats.js.JetStreamContext) -> None:
    event = user_events_pb2.UserUpdatedEvent(event_id=new_event_id())
    await jetstream.publish(SUBJECT, event.SerializeToString())


async def test_a_durable_consumer_stops_when_cancelled_as_a_message_arrives(
    jetstream: nats.js.JetStreamContext,
) -> None:
    fetching = asyncio.Event()

    async def tick(_subscription: object) -> None:
        fetching.set()

    async def handle(messages: list[Msg]) -> None:
        for message in messages:
            await message.ack()

    config = killable_consumer(f"test-cancel-{uuid.uuid4().hex[:8]}", [SUBJECT])
    async with temporary_consumer(config):
        consumer = DurableConsumer(SETTINGS.nats_url, config, handle, tick=tick)

        async def arrive() -> None:
            await fetching.wait()
            fetching.clear()
            await _publish(jetstream)

        await stops_every_time(consumer.run, arrive, rounds=20)


async def test_the_trends_worker_stops_when_cancelled_as_it_recomputes(
    resp: RespClient, redis: Redis
) -> None:
    prefix = f"test:trends:{uuid.uuid4().hex[:10]}"
    store = RedisTrendStore(resp, PARAMS, prefix=prefix)
    trends = TrendService(store, PARAMS)
    config = killable_consumer(f"test-cancel-{uuid.uuid4().hex[:8]}", ["tweets.created"])
    async with temporary_consumer(config):
        worker = TrendsWorker(SETTINGS.nats_url, trends, store, recompute_seconds=0, config=config)
        await stops_every_time(worker.run, lambda: asyncio.sleep(0.01), rounds=20)
    await _delete_under(redis, prefix)


async def test_the_id_lease_renewer_stops_when_cancelled_as_it_renews(
    resp: RespClient, redis: Redis
) -> None:
    namespace = f"test:snowflake:{uuid.uuid4().hex}"

    async def leased() -> None:
        async with leased_snowflake(resp, namespace, renew_every_ms=1) as generator:
            generator.next_id()
            await asyncio.Event().wait()

    try:
        await stops_every_time(leased, lambda: asyncio.sleep(0.005))
    finally:
        await _delete_under(redis, namespace)


async def _delete_under(redis: Redis, prefix: str) -> None:
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
