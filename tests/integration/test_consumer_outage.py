"""A dependency down for longer than the old limit on redeliveries (20) loses no event: the real
``DurableConsumer`` on the real JetStream, on a consumer declared as the product's are
(``events.durable``), settled by the platform's policy (``each_event``), with a handler whose
store is down for the first 25 deliveries of every event, then up. Every event is applied
exactly once; a poison message among them is set aside, not retried.

The delays follow the policy's rule on a short schedule (10 ms doubling up to 50 ms, where the
product's is 1 s doubling up to 30 s) so that the test takes seconds. Only the numbers differ:
nothing limits the deliveries (``events.MAX_DELIVER``), so an outage of five minutes is the same
loop run longer, a delivery every 30 s per event once the delay is at its cap (about 15 of
them), and the events are applied within 30 s of the store's return."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from chirp.events.v1 import user_events_pb2
from nats.aio.msg import Msg
from nats.js.api import ConsumerInfo
from nats.js.client import JetStreamContext
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from services.platform.background import in_background
from services.platform.consumers import DurableConsumer, Retries, Settle, connect, each_event
from services.platform.events import MAX_DELIVER, STREAM, durable
from services.platform.outbox import new_event_id
from services.platform.settings import StoreSettings
from services.platform.subjects import Subject
from tests.integration.streams import temporary_consumer
from tests.polling import eventually

SETTINGS = StoreSettings()
#: Deliveries of each event that find the store down: more than the old limit of 20.
DOWN_FOR = 25
EVENTS = 5
SHORT = Retries(first_seconds=0.01, cap_seconds=0.05)


class Store:
    """A dependency that is down for the first ``DOWN_FOR`` tries of each event, then up."""

    def __init__(self) -> None:
        self.tries: Counter[str] = Counter()
        self.applied: list[str] = []

    async def apply(self, event: user_events_pb2.UserUpdatedEvent) -> bool:
        self.tries[event.event_id] += 1
        if self.tries[event.event_id] <= DOWN_FOR:
            raise ConnectionError("the store is down")
        self.applied.append(event.event_id)
        return True


@pytest.fixture
async def jetstream() -> AsyncIterator[JetStreamContext]:
    connection = await connect(SETTINGS.nats_url)
    yield connection.jetstream()
    await connection.close()


async def test_a_dependency_down_for_more_deliveries_than_the_old_limit_loses_no_event(
    jetstream: JetStreamContext,
) -> None:
    tag = uuid.uuid4().hex[:10]
    subject = Subject(f"users.test_outage_{tag}", user_events_pb2.UserUpdatedEvent)
    config = durable(f"test-outage-{tag}", "a test's", [subject.name], ack_wait_seconds=5)
    store = Store()
    handle = each_event(Settle(config, SHORT), subject, store.apply)
    published = [new_event_id() for _ in range(EVENTS)]
    async with temporary_consumer(config) as name:
        for event_id in published:
            event = subject.type(event_id=event_id)
            await jetstream.publish(subject.name, event.SerializeToString())
        await jetstream.publish(subject.name, b"\xff\xff a poison message")
        consuming = DurableConsumer(SETTINGS.nats_url, config, handle)
        # (Logs captured, not rendered: rendering 125 tracebacks would take most of the test.)
        with capture_logs() as logs:
            async with in_background(consuming.run):
                await eventually(lambda: _count(store.applied), lambda n: n == EVENTS, 30)
                # Everything settled: applied, or the poison message terminated.
                await eventually(
                    lambda: _info(jetstream, name),
                    lambda now: now.num_ack_pending == now.num_pending == 0,
                )
    assert sorted(store.applied) == sorted(published)  # each once, none lost
    # Each was delivered past the old limit and handed to the store every time, never dropped.
    assert store.tries == dict.fromkeys(published, DOWN_FOR + 1)
    levels = Counter(line["log_level"] for line in logs if line.get("consumer") == name)
    assert levels == {"warning": EVENTS * DOWN_FOR, "error": 1}  # the failures; the poison


async def test_a_consumer_declared_with_the_old_limit_is_updated_in_place(
    jetstream: JetStreamContext,
) -> None:
    """What ``migrate`` (and every consumer as it binds) does to a durable of the old policy:
    declaring it again lifts the limit, and the consumer keeps its position."""
    tag = uuid.uuid4().hex[:10]
    subject = f"users.test_limit_{tag}"
    config = durable(f"test-limit-{tag}", "a test's", [subject])
    async with temporary_consumer(config.evolve(max_deliver=20)) as name:
        for _ in range(2):
            await jetstream.publish(subject, b"")
        subscription = await jetstream.pull_subscribe_bind(name, stream=STREAM.name)
        (first,) = await subscription.fetch(1, timeout=5)
        await first.ack_sync()
        assert (await _info(jetstream, name)).config.max_deliver == 20
        await jetstream.add_consumer(STREAM.name or "", config)
        after = await _info(jetstream, name)
    assert after.config.max_deliver == MAX_DELIVER == -1
    assert after.ack_floor is not None
    assert (after.ack_floor.consumer_seq, after.num_pending) == (1, 1)


async def test_a_consumer_measures_its_backlog(jetstream: JetStreamContext) -> None:
    """Every durable consumer samples the messages it has not settled (``chirp_events_backlog``),
    the figure an alert watches grow."""
    tag = uuid.uuid4().hex[:10]
    subject = f"users.test_backlog_{tag}"
    config = durable(f"test-backlog-{tag}", "a test's", [subject])
    stuck = asyncio.Event()  # never set: the handler never settles what it is given

    async def handle(_messages: list[Msg]) -> None:
        await stuck.wait()

    async with temporary_consumer(config) as name:
        for _ in range(3):
            await jetstream.publish(subject, b"")
        async with in_background(DurableConsumer(SETTINGS.nats_url, config, handle).run):
            await eventually(lambda: _backlog(name), lambda n: n == 3)


async def _backlog(consumer: str) -> float | None:
    return REGISTRY.get_sample_value("chirp_events_backlog", {"consumer": consumer})


async def _count(applied: list[str]) -> int:
    return len(applied)


async def _info(jetstream: JetStreamContext, name: str) -> ConsumerInfo:
    info: ConsumerInfo = await jetstream.consumer_info(STREAM.name or "", name)
    return info


async def test_a_cancellation_swallowed_on_the_way_still_stops_the_consumer(
    jetstream: JetStreamContext,
) -> None:
    """A library the consumer waits on may swallow the cancellation (nats-py can, in a request
    or a fetch; here the tick does): the consumer begins no batch after it, and stops."""
    tag = uuid.uuid4().hex[:10]
    subject = f"users.test_swallowed_{tag}"
    config = durable(f"test-swallowed-{tag}", "a test's", [subject])
    ticking, handled = asyncio.Event(), asyncio.Event()

    async def tick(_subscription: JetStreamContext.PullSubscription) -> None:
        ticking.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(1.0)

    async def handle(_messages: list[Msg]) -> None:
        handled.set()
        await asyncio.Event().wait()  # a long batch: only a cancellation ends it

    async with temporary_consumer(config):
        await jetstream.publish(subject, b"")
        async with in_background(DurableConsumer(SETTINGS.nats_url, config, handle, tick=tick).run):
            await asyncio.wait_for(ticking.wait(), timeout=10)
    assert not handled.is_set()
