"""Watching events arrive on the real JetStream stream CHIRP, through temporary consumers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import nats
from google.protobuf.message import Message
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.platform.background import in_background, rounds
from services.platform.events import STREAM
from services.platform.settings import StoreSettings

#: The message type of each subject a test watches.
MessageTypes = Mapping[str, type[Message]]
M = TypeVar("M", bound=Message)

#: How long a test waits for an event.
WAIT_SECONDS = 15.0


@dataclass
class Received:
    """Events in arrival order."""

    events: list[Message] = field(default_factory=list)
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


async def create_consumer(types: MessageTypes, prefix: str) -> str:
    """A new durable consumer of ``types``' subjects, from now on; returns its name."""
    connection = await nats.connect(StoreSettings().nats_url)
    try:
        name = f"test-{prefix}-{uuid.uuid4().hex[:10]}"
        config = ConsumerConfig(
            durable_name=name,
            filter_subjects=list(types),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
        )
        await connection.jetstream().add_consumer(STREAM.name or "", config)
        return name
    finally:
        await connection.close()


async def delete_consumer(name: str) -> None:
    connection = await nats.connect(StoreSettings().nats_url)
    try:
        await connection.jetstream().delete_consumer(STREAM.name or "", name)
    finally:
        await connection.close()


@asynccontextmanager
async def receiving(name: str, types: MessageTypes) -> AsyncIterator[Received]:
    """Pulls the consumer ``name`` in the background for the life of the context."""
    connection = await nats.connect(
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
                received.events.append(types[message.subject].FromString(message.data))
                await message.ack()
            received.arrived.set()

    try:
        async with in_background(pump):
            yield received
    finally:
        await connection.close()


@asynccontextmanager
async def watching(types: MessageTypes, prefix: str) -> AsyncIterator[Received]:
    """Every event of ``types`` published from now on, through a consumer deleted afterwards."""
    name = await create_consumer(types, prefix)
    try:
        async with receiving(name, types) as received:
            yield received
    finally:
        await delete_consumer(name)


def killable_consumer(name: str, subjects: list[str]) -> ConsumerConfig:
    """A durable consumer for a worker that a test SIGKILLs: from now on, and what the killed
    worker had not acknowledged is redelivered after 3 s (the real consumers wait a minute)."""
    return ConsumerConfig(
        durable_name=name,
        filter_subjects=subjects,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,
        ack_wait=3,
        max_deliver=20,
    )


@asynccontextmanager
async def temporary_consumer(config: ConsumerConfig) -> AsyncIterator[str]:
    """Adds ``config`` to the stream for the life of the context; yields its name."""
    connection = await nats.connect(StoreSettings().nats_url)
    try:
        jetstream = connection.jetstream()
        await jetstream.add_consumer(STREAM.name or "", config)
        yield config.durable_name or ""
        await jetstream.delete_consumer(STREAM.name or "", config.durable_name or "")
    finally:
        await connection.close()
