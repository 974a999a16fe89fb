"""Running a service's durable JetStream consumer in the background of its process.

``DurableConsumer.run`` binds to a consumer declared in ``events.py`` (declaring it again, which
changes nothing, so a service started before ``migrate`` still works), hands every fetched batch
to the service's handler, and reconnects with backoff whenever NATS goes away. Handlers ack,
nak or term each message themselves: a message is acknowledged only after its effect is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig
from nats.js.client import JetStreamContext

from services.platform.background import pause, rounds
from services.platform.events import STREAM

log = structlog.get_logger()

BatchHandler = Callable[[list[Msg]], Awaitable[None]]
E = TypeVar("E")

#: How long a message whose handling failed waits before it is redelivered.
RETRY_DELAY_SECONDS = 2.0
#: How long closing a NATS connection may take before it is abandoned.
CLOSE_TIMEOUT_SECONDS = 5.0
Tick = Callable[[JetStreamContext.PullSubscription], Awaitable[None]]


async def _no_tick(_subscription: JetStreamContext.PullSubscription) -> None:
    return None


class DurableConsumer:
    def __init__(
        self,
        nats_url: str,
        config: ConsumerConfig,
        handle: BatchHandler,
        *,
        batch_size: int = 100,
        tick: Tick = _no_tick,
    ) -> None:
        """``tick`` runs before every fetch, at least once a second (periodic work such as
        backlog metrics)."""
        self._nats_url = nats_url
        self._config = config
        self._handle = handle
        self._batch_size = batch_size
        self._tick = tick

    async def run(self) -> None:
        """Consumes until cancelled."""
        backoff = 0.5
        for _ in rounds():
            try:
                await self._consume()
            except Exception:
                log.warning(
                    "cannot consume yet; retrying",
                    consumer=self._config.durable_name,
                    exc_info=True,
                )
                await pause(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _consume(self) -> None:
        connection = await nats.connect(
            self._nats_url, connect_timeout=2, max_reconnect_attempts=-1, reconnect_time_wait=1
        )
        try:
            jetstream = connection.jetstream(timeout=5)
            stream = STREAM.name or ""
            await jetstream.add_consumer(stream, self._config)
            subscription = await jetstream.pull_subscribe_bind(
                self._config.durable_name or "", stream=stream
            )
            for _ in rounds():
                await self._tick(subscription)
                try:
                    messages = await subscription.fetch(self._batch_size, timeout=1.0)
                except TimeoutError:
                    continue
                await self._handle(messages)
        finally:
            await close_connection(connection)


async def close_connection(connection: Client) -> None:
    """Closes ``connection``, giving up after ``CLOSE_TIMEOUT_SECONDS``: nats-py's close flushes
    and waits for its reader, which can wait forever on a connection that is reconnecting, and
    a stuck close must not stall a shutdown (the server drops the connection anyway)."""
    if connection.is_closed:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await connection.close()


def each_event(
    parse: Callable[[bytes], E], apply: Callable[[E], Awaitable[bool]], what: str
) -> BatchHandler:
    """A batch handler that applies each message's event in stream order and settles it:
    acknowledged once ``apply`` returns True; redelivered ``RETRY_DELAY_SECONDS`` later when it
    returns False or raises; terminated, with an error log line, when the payload cannot be
    decoded (no redelivery could help, and a poison message must not stall the consumer)."""

    async def handle_batch(messages: list[Msg]) -> None:
        for message in messages:
            try:
                event = parse(message.data)
            except Exception:
                log.exception("undecodable event; dropped", subject=message.subject, what=what)
                await message.term()
                continue
            try:
                done = await apply(event)
            except Exception:
                log.warning("event handling failed; redelivering", what=what, exc_info=True)
                done = False
            if done:
                await message.ack()
            else:
                await message.nak(delay=RETRY_DELAY_SECONDS)

    return handle_batch
