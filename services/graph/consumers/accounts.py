"""Every account has its node: ``users.created`` consumed on the durable consumer
``graph-users``.

The consumer starts from the beginning of the stream (DeliverPolicy.ALL) and keeps its position
across restarts, so accounts registered while the graph service was down get their nodes when it
comes back. A message is settled by the platform's policy (``services/platform/consumers.py``):
acknowledged only after the node's MERGE committed, a failure (Neo4j down) redelivered later for
as long as it lasts. MERGE makes a redelivery change nothing. (A follow also MERGEs both nodes,
so a follow never waits for this.)
"""

from __future__ import annotations

from chirp.events.v1 import user_events_pb2

from services.graph.service import GraphService
from services.platform.consumers import DurableConsumer, Settle, each_event
from services.platform.events import consumer
from services.platform.subjects import USERS_CREATED

CONSUMER = consumer("graph-users")


class NewAccounts:
    def __init__(self, nats_url: str, graph: GraphService, batch_size: int = 100) -> None:
        self._nats_url = nats_url
        self._graph = graph
        self._batch_size = batch_size

    async def run(self) -> None:
        """Consumes ``users.created`` until cancelled."""
        handle = each_event(Settle(CONSUMER), USERS_CREATED, self._add)
        await DurableConsumer(self._nats_url, CONSUMER, handle, batch_size=self._batch_size).run()

    async def _add(self, event: user_events_pb2.UserCreatedEvent) -> bool:
        if event.user.id > 0:  # an event without an account has nothing to add
            await self._graph.add_user(event.user.id)
        return True
