"""A temporary JetStream consumer on the stream CHIRP, for tests that watch events arrive."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import nats
from chirp.events.v1 import tweet_events_pb2
from google.protobuf.message import Message
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.bootstrap.events import STREAM
from services.bootstrap.settings import StoreSettings

MESSAGE_TYPES: dict[str, type[Message]] = {
    "tweets.created": tweet_events_pb2.TweetCreatedEvent,
    "tweets.edited": tweet_events_pb2.TweetEditedEvent,
    "tweets.deleted": tweet_events_pb2.TweetDeletedEvent,
    "tweets.liked": tweet_events_pb2.TweetLikedEvent,
    "tweets.unliked": tweet_events_pb2.TweetUnlikedEvent,
    "tweets.retweeted": tweet_events_pb2.TweetRetweetedEvent,
    "tweets.unretweeted": tweet_events_pb2.TweetUnretweetedEvent,
}


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


def durable_consumer(name: str) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=name,
        filter_subjects=list(MESSAGE_TYPES),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,
    )


async def create_consumer() -> str:
    """A new durable consumer of every tweets.* subject, from now on; returns its name."""
    connection = await nats.connect(StoreSettings().nats_url)
    try:
        name = f"test-tweets-{uuid.uuid4().hex[:10]}"
        await connection.jetstream().add_consumer(STREAM.name or "", durable_consumer(name))
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
async def receiving(name: str) -> AsyncIterator[Received]:
    """Pulls the consumer ``name`` in the background for the life of the context."""
    connection = await nats.connect(
        StoreSettings().nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5
    )
    received = Received()
    subscription = await connection.jetstream().pull_subscribe_bind(name, stream=STREAM.name)

    async def pump() -> None:
        while True:
            try:
                messages = await subscription.fetch(50, timeout=1)
            except TimeoutError:
                continue
            for message in messages:
                received.events.append(MESSAGE_TYPES[message.subject].FromString(message.data))
                await message.ack()
            received.arrived.set()

    task = asyncio.create_task(pump())
    try:
        yield received
    finally:
        task.cancel()
        await connection.close()


@asynccontextmanager
async def watching() -> AsyncIterator[Received]:
    """Every tweets.* event published from now on, through a consumer deleted afterwards."""
    name = await create_consumer()
    try:
        async with receiving(name) as received:
            yield received
    finally:
        await delete_consumer(name)
