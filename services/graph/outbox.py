"""The graph service's transactional outbox in Neo4j.

A follow or unfollow creates ``(:OutboxEvent {event_id, subject, key, payload, create_time})``
in the transaction that changes the edge (``store.py``), so an acknowledged change always has
its event stored. ``Neo4jOutboxStore`` is the ``OutboxStore`` that the shared
``services.bootstrap.outbox.OutboxRelay`` drains: oldest first (``create_time`` is taken in
nanoseconds after the pair is locked, so the events of one pair keep their order), each node
deleted once JetStream acknowledged it (``Nats-Msg-Id`` = event id makes a re-publish a no-op).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from neo4j import AsyncDriver

from services.bootstrap.outbox import PendingEvent

_PENDING = """
MATCH (e:OutboxEvent)
WHERE e.create_time IS NOT NULL
RETURN e.event_id AS event_id, e.subject AS subject, e.payload AS payload
ORDER BY e.create_time
LIMIT $limit
"""
_REMOVE = "MATCH (e:OutboxEvent {event_id: $event_id}) DELETE e"


class Neo4jOutboxStore:
    def __init__(self, driver: AsyncDriver) -> None:
        self._driver = driver
        #: Set by writers of this process after a commit added an event (``Wakeup``).
        self.written = asyncio.Event()

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        records, _, _ = await self._driver.execute_query(_PENDING, {"limit": limit})
        return [
            PendingEvent(record["event_id"], record["subject"], bytes(record["payload"]))
            for record in records
        ]

    def take(self) -> list[PendingEvent]:
        """Nothing is handed over: a wakeup reads the store (one indexed query)."""
        return []

    async def remove(self, row: PendingEvent) -> None:
        await self._driver.execute_query(_REMOVE, {"event_id": row.event_id})
