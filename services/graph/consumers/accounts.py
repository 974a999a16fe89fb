"""Every account has its node while it exists: ``users.created`` and ``users.deleted`` consumed
on the durable consumer ``graph-users``.

The consumer starts from the beginning of the stream (DeliverPolicy.ALL) and keeps its position
across restarts, so accounts registered or deleted while the graph service was down are handled
when it comes back. A message is settled by the platform's policy
(``services/platform/consumers.py``): acknowledged only after its effect committed, a failure
(Neo4j, Redis or the users service down) redelivered later for as long as it lasts.

``users.created`` MERGEs the account's node (a redelivery changes nothing; a follow also MERGEs
both nodes, so a follow never waits for this), unless the account is already gone
(``GraphService.add_user``).

``users.deleted`` erases the account: every follow both ways, as unfollows (counts corrected,
``graph.unfollowed`` published), in bounded batches, then its node (``GraphService.erase_user``;
a redelivery, or a second event, finds less to do). It starts once the event is
``ERASURE_GRACE_SECONDS`` old: the account's session tokens are refused everywhere within about a
second of the delete, so a follow made with one just before is in the graph by then and is
erased with the rest. A long erasure keeps its message in progress (``Settle.settled``).
"""

from __future__ import annotations

from chirp.events.v1 import user_events_pb2

from services.graph.service import GraphService
from services.platform.consumers import (
    ERASURE_GRACE_SECONDS,
    Applies,
    BatchHandler,
    DurableConsumer,
    Settle,
    each_event_of,
    until_aged,
)
from services.platform.events import consumer
from services.platform.subjects import USERS_CREATED, USERS_DELETED

CONSUMER = consumer("graph-users")


class AccountNodes:
    def __init__(
        self,
        nats_url: str,
        graph: GraphService,
        batch_size: int = 100,
        grace_seconds: float = ERASURE_GRACE_SECONDS,
    ) -> None:
        self._nats_url = nats_url
        self._graph = graph
        self._batch_size = batch_size
        self._grace_seconds = grace_seconds

    async def run(self) -> None:
        """Consumes ``users.created`` and ``users.deleted`` until cancelled."""
        consuming = DurableConsumer(
            self._nats_url, CONSUMER, self.handler(), batch_size=self._batch_size
        )
        await consuming.run()

    def handler(self) -> BatchHandler:
        """Each message's event applied by its subject's handler, in stream order."""
        return each_event_of(
            Settle(CONSUMER), Applies(USERS_CREATED, self.add), Applies(USERS_DELETED, self.erase)
        )

    async def add(self, event: user_events_pb2.UserCreatedEvent) -> bool:
        if event.user.id > 0:  # an event without an account has nothing to add
            await self._graph.add_user(event.user.id)
        return True

    async def erase(self, event: user_events_pb2.UserDeletedEvent) -> bool:
        """Erases the deleted account once its delete has had its grace."""
        await until_aged(event.occur_time, self._grace_seconds)
        if event.user_id > 0:  # an event without an account has nothing to erase
            await self._graph.erase_user(event.user_id)
        return True
