"""Every account has its node: ``users.created`` consumed on the durable consumer
``graph-users``.

The consumer starts from the beginning of the stream (DeliverPolicy.ALL) and keeps its position
across restarts, so accounts registered while the graph service was down get their nodes when it
comes back. A message is acknowledged only after the node's MERGE committed; a failure is
redelivered a few seconds later. MERGE makes a redelivery change nothing. (A follow also MERGEs
both nodes, so a follow never waits for this.)
"""

from __future__ import annotations

import structlog
from chirp.events.v1 import user_events_pb2
from nats.aio.msg import Msg

from services.bootstrap.consumers import DurableConsumer, one_at_a_time
from services.bootstrap.events import consumer
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
        """Consumes ``users.created`` until cancelled."""
        await DurableConsumer(
            self._nats_url, CONSUMER, one_at_a_time(self._handle), batch_size=self._batch_size
        ).run()

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
