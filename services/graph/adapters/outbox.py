"""The graph service's transactional outbox in Neo4j.

A follow or unfollow creates ``(:OutboxEvent {event_id, subject, key, payload, create_time,
traceparent})`` in the transaction that changes the edge (``store.py``), so an acknowledged
change always has its event stored, and hands the event to this process's relay once
committed (published without a read). ``Neo4jOutboxStore`` is the ``OutboxStore`` that the
shared ``services.platform.outbox.OutboxRelay`` drains every few seconds for what was not
handed over (another process's, or one a failure left): oldest first (``create_time`` is
Neo4j's clock in nanoseconds once the pair is locked, so the events of one pair keep their
order). The nodes JetStream acknowledged are deleted together, in one query, once
``DELETE_BATCH`` of them wait or before the relay next reads the store (every few seconds):
one write transaction for a hundred follows, not one for each. Until then a relay reading the
store may publish them again, which ``Nats-Msg-Id`` = event id makes a no-op (the stream's
duplicate window is far longer). Both are auto-commit queries (one round trip, where a managed
transaction takes two): a read has nothing to roll back, and a delete that fails leaves events
that are published again, as no-ops, and deleted with the next ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from neo4j import READ_ACCESS, AsyncDriver

from services.platform.outbox import Handover, PendingEvent

_PENDING = """
MATCH (e:OutboxEvent)
WHERE e.create_time IS NOT NULL
RETURN e.event_id AS event_id, e.subject AS subject, e.payload AS payload,
       e.traceparent AS traceparent
ORDER BY e.create_time
LIMIT $limit
"""
_REMOVE = "UNWIND $event_ids AS id MATCH (e:OutboxEvent {event_id: id}) DELETE e"
#: Published events deleted together (fewer when the store is read first).
DELETE_BATCH = 100


class Neo4jOutboxStore(Handover):
    """The store the relay drains, and the hand-over of this process's committed events."""

    def __init__(self, driver: AsyncDriver) -> None:
        super().__init__()
        self._driver = driver
        #: Ids of the events published and not deleted yet.
        self._published: list[str] = []

    async def pending(self, limit: int) -> Sequence[PendingEvent]:
        await self._delete_published()
        async with self._driver.session(default_access_mode=READ_ACCESS) as session:
            records = [record async for record in await session.run(_PENDING, limit=limit)]
        return [
            PendingEvent(
                record["event_id"],
                record["subject"],
                bytes(record["payload"]),
                traceparent=record["traceparent"] or "",
            )
            for record in records
        ]

    async def remove(self, rows: Sequence[PendingEvent]) -> None:
        self._published += [row.event_id for row in rows]
        if len(self._published) >= DELETE_BATCH:
            await self._delete_published()

    async def _delete_published(self) -> None:
        if not self._published:
            return
        published = list(self._published)
        async with self._driver.session() as session:
            await (await session.run(_REMOVE, event_ids=published)).consume()
        del self._published[: len(published)]
