"""Every account has its node: ``users.created`` consumed on the durable consumer
``graph-users``.

The consumer starts from the beginning of the stream (DeliverPolicy.ALL) and keeps its position
across restarts, so accounts registered while the graph service was down get their nodes when it
comes back. A message is acknowledged only after the node's MERGE committed; a failure is
redelivered a few seconds later. MERGE makes a redelivery change nothing. (A follow also MERGEs
both nodes, so a follow never waits for this.)
"""

from __future__ import annotations

import asyncio

import nats
import structlog
from chirp.events.v1 import user_events_pb2
from nats.aio.msg import Msg

from services.bootstrap.events import STREAM, consumer
from services.graph.service import GraphService

CONSUMER = consumer("graph-users")
RETRY_DELAY_SECONDS = 2.0

log = structlog.get_logger()


class NewAccounts:
    def __init__(self, nats_url: str, graph: GraphService, batch_size: int = 100) -> None:
        self._nats_url = nats_url
        self._graph = graph
        self._batch_size = batch_size

    async def run(self) -> None:
        """Consumes until cancelled, reconnecting (with backoff) whenever NATS goes away."""
        backoff = 0.5
        while True:
            try:
                await self._consume()
            except Exception:
                log.warning("graph-users cannot consume yet; retrying", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _consume(self) -> None:
        connection = await nats.connect(
            self._nats_url, connect_timeout=2, max_reconnect_attempts=-1, reconnect_time_wait=1
        )
        try:
            jetstream = connection.jetstream(timeout=5)
            stream = STREAM.name or ""
            await jetstream.add_consumer(stream, CONSUMER)
            subscription = await jetstream.pull_subscribe_bind(
                CONSUMER.durable_name or "", stream=stream
            )
            while True:
                try:
                    messages = await subscription.fetch(self._batch_size, timeout=5)
                except TimeoutError:
                    continue
                for message in messages:
                    await self._handle(message)
        finally:
            await connection.close()

    async def _handle(self, message: Msg) -> None:
        try:
            event = user_events_pb2.UserCreatedEvent.FromString(message.data)
        except Exception:
            log.exception("unreadable users.created event; dropped")
            await message.term()
            return
        if event.user.id <= 0:
            await message.term()
            return
        try:
            await self._graph.add_user(event.user.id)
        except Exception:
            log.warning("adding an account's node failed", user_id=event.user.id, exc_info=True)
            await message.nak(delay=RETRY_DELAY_SECONDS)
            return
        await message.ack()
