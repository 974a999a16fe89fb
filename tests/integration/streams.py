"""Watching events arrive on the real JetStream stream CHIRP, through temporary consumers: the
events of one service (``tweets``, ``graph``, ...), every subject of it in the catalogue, decoded
as the catalogue says."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.platform.background import in_background, rounds
from services.platform.consumers import connect
from services.platform.events import STREAM, durable
from services.platform.settings import StoreSettings
from services.platform.subjects import CATALOGUE, Event, Subject, decode

M = TypeVar("M", bound=Event)

#: How long a test waits for an event.
WAIT_SECONDS = 15.0


@dataclass
class Received:
    """Events in arrival order."""

    events: list[Event] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def matching(self, kind: type[M], matches: Callable[[M], bool]) -> list[M]:
        return [event for event in self.events if isinstance(event, kind) and matches(event)]

    async def wait_for(self, kind: type[M], matches: Callable[[M], bool]) -> list[M]:
        """Waits (up to ``WAIT_SECONDS``) until an event matches; returns all that match."""
        async with asyncio.timeout(WAIT_SECONDS):
            while not (found := self.matching(kind, matches)):
                self.arrived.clear()
                await self.arrived.wait()
        return found


def subjects_of(service: str) -> list[str]:
    """The catalogue's subjects of ``service`` (``tweets.created``, ... for ``tweets``)."""
    return [name for name in CATALOGUE if name.startswith(f"{service}.")]


async def create_consumer(service: str) -> str:
    """A new durable consumer of every subject of ``service``, from now on; returns its name."""
    connection = await connect(StoreSettings().nats_url)
    try:
        name = f"test-{service}-{uuid.uuid4().hex[:10]}"
        config = ConsumerConfig(
            durable_name=name,
            filter_subjects=subjects_of(service),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
        )
        await connection.jetstream().add_consumer(STREAM.name or "", config)
        return name
    finally:
        await connection.close()


async def delete_consumer(name: str) -> None:
    connection = await connect(StoreSettings().nats_url)
    try:
        await connection.jetstream().delete_consumer(STREAM.name or "", name)
    finally:
        await connection.close()


@asynccontextmanager
async def receiving(name: str) -> AsyncIterator[Received]:
    """Pulls the consumer ``name`` in the background for the life of the context."""
    connection = await connect(
        StoreSettings().nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5
    )
    received = Received()
    subscription = await connection.jetstream().pull_subscribe_bind(name, stream=STREAM.name)

    async def pump() -> None:
        for _ in rounds():
            try:
                messages = await subscription.fetch(100, timeout=1)
            except TimeoutError:
                continue
            for message in messages:
                received.events.append(decode(message.subject, message.data))
                await message.ack()
            received.arrived.set()

    try:
        async with in_background(pump):
            yield received
    finally:
        await connection.close()


@asynccontextmanager
async def watching(service: str) -> AsyncIterator[Received]:
    """Every event of ``service`` published from now on, through a consumer deleted
    afterwards."""
    name = await create_consumer(service)
    try:
        async with receiving(name) as received:
            yield received
    finally:
        await delete_consumer(name)


def killable_consumer(name: str, subjects: list[str]) -> ConsumerConfig:
    """A durable consumer declared as the real ones are, for a worker that a test SIGKILLs: from
    now on, and what the killed worker had not acknowledged is redelivered after 3 s (the real
    consumers wait a minute)."""
    config = durable(name, "a test's", subjects, ack_wait_seconds=3)
    return config.evolve(deliver_policy=DeliverPolicy.NEW)


@asynccontextmanager
async def temporary_consumer(config: ConsumerConfig) -> AsyncIterator[str]:
    """Adds ``config`` to the stream for the life of the context; yields its name."""
    connection = await connect(StoreSettings().nats_url)
    try:
        jetstream = connection.jetstream()
        await jetstream.add_consumer(STREAM.name or "", config)
        yield config.durable_name or ""
        await jetstream.delete_consumer(STREAM.name or "", config.durable_name or "")
    finally:
        await connection.close()


async def find_event(
    subject: Subject[M],
    since: datetime,
    matches: Callable[[M], bool],
    timeout_seconds: float = 10.0,
) -> M | None:
    """The first event on ``subject`` stored after ``since`` that ``matches``, None if none has
    come within ``timeout_seconds``. Reads through a temporary consumer (deleted afterwards) that
    starts at ``since``, so it sees the event whether it was published before or after the call."""
    name = f"test-find-{uuid.uuid4().hex[:12]}"
    config = ConsumerConfig(
        durable_name=name,
        filter_subject=subject.name,
        deliver_policy=DeliverPolicy.BY_START_TIME,
        opt_start_time=since,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=60,
    )
    async with temporary_consumer(config):
        connection = await connect(StoreSettings().nats_url)
        try:
            subscription = await connection.jetstream().pull_subscribe_bind(
                name, stream=STREAM.name
            )
            deadline = time.monotonic() + timeout_seconds
            while time.monotonic() < deadline:
                try:
                    messages = await subscription.fetch(100, timeout=1)
                except TimeoutError:
                    continue
                for message in messages:
                    event = subject.decode(message.data)
                    if matches(event):
                        return event
            return None
        finally:
            await connection.close()


async def event_of(
    subject: Subject[M],
    since: datetime,
    matches: Callable[[M], bool],
    timeout_seconds: float = 10.0,
) -> M:
    """``find_event``'s event; fails the test if none came."""
    event = await find_event(subject, since, matches, timeout_seconds)
    assert event is not None, f"no matching {subject.name} event within {timeout_seconds} s"
    return event
