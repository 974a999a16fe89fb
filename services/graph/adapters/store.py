"""The follow graph in Neo4j: ``(:User {id})-[:FOLLOWS {create_time, followee, rank}]->(:User)``.

Counts live on the nodes (``follower_count``, ``following_count``, and ``follow_version``, which
every change of either moves by one, so caches can tell two readings apart; absent means 0) and
change in the transaction that changes the edge, together with the event's ``(:OutboxEvent)``
node (see ``outbox.py``), all in one statement, which answers both nodes' counts after it. A
follow or unfollow first write-locks both nodes (MERGEd, so a follow never fails for a missing
node; a ``_lock`` property set and removed in the same transaction), lower id first (so
transactions never wait on each other in a cycle; a deadlock Neo4j reports anyway is a transient
error the driver retries), then reads the edge, so the check and the change cannot interleave
with another transaction on the same pair: a repeated follow finds the edge and changes nothing,
and the counts move only with the edge.

An erased account (``users.deleted``) loses its follows a bounded batch per transaction
(``remove_follows``), each removed as an unfollow removes it (both nodes' counts, a
``graph.unfollowed`` event in the outbox) under the same locks, taken in id order over the
account and the batch's other users; then its node, once no follow is left (``remove_user``). A
batch is all or nothing, so an erasure cut short is finished by running it again, and no count
moves twice.

An account's followers are paged newest first off the ``(followee, rank)`` index of FOLLOWS edges
(``follow_rank``), in the index's order: a page reads its own edges and no others, so the
first page and the five-thousandth of an account with a million followers cost the same as a
page of an account with ten (a sort of every incoming edge per page cost 185 ms of Neo4j CPU for
96k followers). A following list is bounded by the follow limits and sorted per page.

Every query is parameterised; none is built from strings.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from chirp.events.v1 import graph_events_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from neo4j import READ_ACCESS, AsyncDriver, AsyncManagedTransaction

from services.graph.adapters.outbox import Neo4jOutboxStore
from services.graph.model import Change, Cursor, FollowCounts, Listed, Relationship
from services.platform import tracing
from services.platform.outbox import PendingEvent, new_event_id
from services.platform.subjects import GRAPH_FOLLOWED, GRAPH_UNFOLLOWED, Subject

#: Who to follow looks at this many of the caller's most recent followees ...
SUGGESTION_FOLLOWEES = 200
#: ... and at most this many of the people each of them follows, so a celebrity-heavy graph
#: costs the same bounded work.
SUGGESTION_FANOUT = 500

# An outbox event's order (its ``create_time``): Neo4j's clock in nanoseconds, read once the
# locks are held (``now``), so the events of one pair are ordered as their changes are.
_NOW_NS = "now.epochSeconds * 1000000000 + now.nanosecond"
# A follow or an unfollow in one statement: both nodes locked (lower id first), the edge read
# under the locks, the change made only if it changes something (a unit subquery: it never
# drops the row), the locks released.
_LOCKED_PAIR = f"""
UNWIND $ids AS id
MERGE (u:User {{id: id}})
SET u._lock = true
WITH count(u) AS locked
MATCH (a:User {{id: $a}}), (b:User {{id: $b}})
WITH a, b, EXISTS {{ (a)-[:FOLLOWS]->(b) }} AS following,
     EXISTS {{ (b)-[:FOLLOWS]->(a) }} AS followed_by, datetime.realtime() AS now
WITH a, b, following, followed_by, {_NOW_NS} AS sequence
"""
_OUTBOX_EVENT = """
  CREATE (:OutboxEvent {event_id: $event_id, subject: $subject, key: $a, payload: $payload,
                        create_time: sequence, traceparent: $traceparent})"""
_RELEASED = """
REMOVE a._lock, b._lock
RETURN following, followed_by,
       [coalesce(a.follower_count, 0), coalesce(a.following_count, 0),
        coalesce(a.follow_version, 0)] AS follower,
       [coalesce(b.follower_count, 0), coalesce(b.following_count, 0),
        coalesce(b.follow_version, 0)] AS followee"""
# Every change of a node's counts moves its version.
_VERSIONS_MOVED = """
  SET a.follow_version = coalesce(a.follow_version, 0) + 1,
      b.follow_version = coalesce(b.follow_version, 0) + 1"""
_FOLLOW = f"""{_LOCKED_PAIR}
CALL (a, b, following, sequence) {{
  WITH * WHERE NOT following
  CREATE (a)-[:FOLLOWS {{create_time: $create_time, followee: $b, rank: $rank}}]->(b)
  SET a.following_count = coalesce(a.following_count, 0) + 1,
      b.follower_count = coalesce(b.follower_count, 0) + 1{_VERSIONS_MOVED}
{_OUTBOX_EVENT}
}}{_RELEASED}
"""
_UNFOLLOW = f"""{_LOCKED_PAIR}
CALL (a, b, following, sequence) {{
  WITH * WHERE following
  MATCH (a)-[f:FOLLOWS]->(b)
  DELETE f
  SET a.following_count = coalesce(a.following_count, 1) - 1,
      b.follower_count = coalesce(b.follower_count, 1) - 1{_VERSIONS_MOVED}
{_OUTBOX_EVENT}
}}{_RELEASED}
"""
_UNLOCK = """
UNWIND $ids AS id
MATCH (u:User {id: id})
REMOVE u._lock
"""
_LOCK = """
UNWIND $ids AS id
MATCH (u:User {id: id})
SET u._lock = true
"""
_STATE = """
MATCH (a:User {id: $a}), (b:User {id: $b})
RETURN EXISTS { (a)-[:FOLLOWS]->(b) } AS following, EXISTS { (b)-[:FOLLOWS]->(a) } AS followed_by
"""
# An erasure's batch: up to $limit follows of the account, either way, as (follower, followee).
_FOLLOWS_OF = """
MATCH (:User {id: $id})-[f:FOLLOWS]-(:User)
WITH f
LIMIT $limit
RETURN collect([startNode(f).id, endNode(f).id]) AS pairs
"""
# _UNFOLLOW for each row whose edge is still there (another erasure may have taken it).
_UNFOLLOW_ALL = f"""
WITH datetime.realtime() AS now
UNWIND $rows AS row
MATCH (a:User {{id: row.a}})-[f:FOLLOWS]->(b:User {{id: row.b}})
DELETE f
SET a.following_count = coalesce(a.following_count, 1) - 1,
    b.follower_count = coalesce(b.follower_count, 1) - 1{_VERSIONS_MOVED}
CREATE (:OutboxEvent {{event_id: row.event_id, subject: $subject, key: row.a,
                       payload: row.payload, create_time: {_NOW_NS} + row.offset,
                       traceparent: $traceparent}})
RETURN collect(row.event_id) AS removed
"""
# The node goes only once it has no follow left (a follow made meanwhile is the next batch's).
_REMOVE_USER = """
MATCH (u:User {id: $id})
WITH u, EXISTS { (u)-[:FOLLOWS]-() } AS followed
REMOVE u._lock
FOREACH (_ IN CASE WHEN followed THEN [] ELSE [1] END | DELETE u)
RETURN followed
"""
# Reads of many rows return their columns as lists in one record: the driver decodes a list
# element about ten times faster than a record.
# One page of followers, newest first, read off the (followee, rank) index in its order.
FOLLOWERS_PAGE = """
MATCH ()-[f:FOLLOWS]->()
WHERE f.followee = $id AND f.rank < $before
WITH f.rank AS rank
ORDER BY f.followee DESC, f.rank DESC
LIMIT $limit
RETURN collect(rank) AS ranks
"""
_FOLLOWING = """
MATCH (:User {id: $id})-[f:FOLLOWS]->(x:User)
WHERE $t IS NULL OR f.create_time < $t OR (f.create_time = $t AND x.id < $x)
WITH x.id AS id, f.create_time AS t
ORDER BY t DESC, id DESC
LIMIT $limit
RETURN collect(id) AS ids, collect(t) AS times
"""
_STREAM_FOLLOWERS = """
MATCH (:User {id: $id})<-[f:FOLLOWS]-(x:User)
WHERE f.create_time <= $start
WITH collect(x.id) AS ids
WHERE size(ids) > 0
UNWIND range(0, size(ids) - 1, $batch) AS i
RETURN ids[i..i + $batch] AS batch
"""
_COUNTS = """
UNWIND $ids AS id
MATCH (u:User {id: id})
RETURN collect(u.id) AS ids, collect(coalesce(u.follower_count, 0)) AS followers,
       collect(coalesce(u.following_count, 0)) AS following,
       collect(coalesce(u.follow_version, 0)) AS versions
"""
_CHECK = """
UNWIND range(0, size($pairs) - 1) AS i
WITH i, $pairs[i] AS pair
OPTIONAL MATCH (a:User {id: pair[0]})-[f:FOLLOWS]->(b:User {id: pair[1]})
WITH i, f IS NOT NULL AS follows
ORDER BY i
RETURN collect(follows) AS follows
"""
_FOLLOWING_IDS = """
MATCH (:User {id: $id})-[:FOLLOWS]->(x:User)
WHERE ($after IS NULL OR x.id > $after) AND coalesce(x.follower_count, 0) >= $min
WITH x.id AS id
ORDER BY id
LIMIT $limit
RETURN collect(id) AS ids
"""
_FRIENDS_OF_FRIENDS = """
MATCH (me:User {id: $id})-[mine:FOLLOWS]->(friend:User)
WITH me, friend
ORDER BY mine.create_time DESC
LIMIT $followees
CALL (me, friend) {
  MATCH (friend)-[:FOLLOWS]->(candidate:User)
  WHERE candidate <> me
  RETURN candidate
  LIMIT $fanout
}
WITH me, candidate, count(*) AS followed_by_friends
WHERE NOT EXISTS { (me)-[:FOLLOWS]->(candidate) }
WITH candidate.id AS id, followed_by_friends, coalesce(candidate.follower_count, 0) AS count
ORDER BY followed_by_friends DESC, count DESC, id DESC
LIMIT $limit
RETURN collect(id) AS ids
"""
_MOST_FOLLOWED = """
MATCH (s:User)
WHERE s.follower_count > 0 AND s.id <> $id
  AND NOT EXISTS { (:User {id: $id})-[:FOLLOWS]->(s) }
WITH s.id AS id, s.follower_count AS count
ORDER BY count DESC, id DESC
LIMIT $limit
RETURN collect(id) AS ids
"""


#: Above every rank: where the first page of followers starts.
_NEWEST = "~"


def rank_below(before: Cursor | None) -> str:
    """The rank a followers page after ``before`` starts below (the first page: above all)."""
    return _NEWEST if before is None else follow_rank(before.create_time, before.user_id)


def follow_rank(create_time: int, follower_id: int) -> str:
    """A FOLLOWS edge's place among its followee's followers: the creation millisecond and the
    follower's id, zero-padded so that their order as strings is their order as numbers
    (migration 0003 computes the same in Cypher for edges made before it)."""
    return f"{create_time:013d}:{follower_id:019d}"


def ranked(rank: str) -> Listed:
    """The follower and the follow's time a rank holds."""
    create_time, follower_id = rank.split(":")
    return Listed(int(follower_id), int(create_time))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _timestamp(epoch_ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(epoch_ms)
    return stamp


class Neo4jGraphStore:
    def __init__(self, driver: AsyncDriver, outbox: Neo4jOutboxStore) -> None:
        self._driver = driver
        self._outbox = outbox

    async def _read(self, query: str, **parameters: Any) -> list[Any]:
        """One auto-commit read: RUN and PULL in one round trip, where a managed transaction
        (``execute_query``) adds BEGIN and COMMIT and a second round trip, a fifth of the
        service's CPU on a page of followers. Nothing is lost by it: a read has nothing to roll
        back, the driver drops pooled connections that Neo4j closed (a read right after a
        SIGKILLed Neo4j is back succeeds), and a read while Neo4j is down fails at once (503)
        where a managed transaction would have retried it until the call's deadline."""
        with tracing.client_span("neo4j read", "neo4j", **{"db.statement": query}):
            async with self._driver.session(default_access_mode=READ_ACCESS) as session:
                result = await session.run(query, parameters)
                return [record async for record in result]

    async def _ids(self, query: str, **parameters: Any) -> list[int]:
        """The ``ids`` list a query returns in its one record."""
        (record,) = await self._read(query, **parameters)
        return list(record["ids"])

    async def ensure_user(self, user_id: int) -> None:
        await self._driver.execute_query("MERGE (:User {id: $id})", {"id": user_id})

    async def follow(self, follower_id: int, followee_id: int) -> Change:
        return await self._change(follower_id, followee_id, follow=True)

    async def unfollow(self, follower_id: int, followee_id: int) -> Change:
        return await self._change(follower_id, followee_id, follow=False)

    async def _change(self, follower_id: int, followee_id: int, *, follow: bool) -> Change:
        with tracing.client_span(f"neo4j {'follow' if follow else 'unfollow'}", "neo4j"):
            async with self._driver.session() as session:
                change, event = await session.execute_write(
                    _change, follower_id, followee_id, follow
                )
        if event is not None:
            self._outbox.committed(event)
        return change

    async def remove_follows(self, user_id: int, limit: int) -> list[tuple[int, int]]:
        with tracing.client_span("neo4j remove follows", "neo4j"):
            async with self._driver.session() as session:
                removed = await session.execute_write(_remove_follows, user_id, limit)
        if removed:
            self._outbox.committed(*removed.values())
        return list(removed)

    async def remove_user(self, user_id: int) -> bool:
        with tracing.client_span("neo4j remove user", "neo4j"):
            async with self._driver.session() as session:
                return await session.execute_write(_remove_user, user_id)

    async def relationship(self, source_id: int, target_id: int) -> Relationship:
        records = await self._read(_STATE, a=source_id, b=target_id)
        if not records:
            return Relationship(source_id, target_id, following=False, followed_by=False)
        return Relationship(
            source_id, target_id, records[0]["following"], records[0]["followed_by"]
        )

    async def followers(self, user_id: int, before: Cursor | None, limit: int) -> list[Listed]:
        (record,) = await self._read(
            FOLLOWERS_PAGE, id=user_id, before=rank_below(before), limit=limit
        )
        return [ranked(rank) for rank in record["ranks"]]

    async def following(self, user_id: int, before: Cursor | None, limit: int) -> list[Listed]:
        return await self._list(_FOLLOWING, user_id, before, limit)

    async def _list(
        self, query: str, user_id: int, before: Cursor | None, limit: int
    ) -> list[Listed]:
        records = await self._read(
            query,
            id=user_id,
            t=None if before is None else before.create_time,
            x=None if before is None else before.user_id,
            limit=limit,
        )
        (record,) = records
        return [Listed(*row) for row in zip(record["ids"], record["times"], strict=True)]

    async def counts(self, user_ids: Sequence[int]) -> dict[int, FollowCounts]:
        (record,) = await self._read(_COUNTS, ids=list(user_ids))
        return {
            user_id: FollowCounts(user_id, *counts)
            for user_id, *counts in zip(
                record["ids"],
                record["followers"],
                record["following"],
                record["versions"],
                strict=True,
            )
        }

    async def check(self, pairs: Sequence[tuple[int, int]]) -> list[bool]:
        if not pairs:
            return []
        (record,) = await self._read(_CHECK, pairs=[list(pair) for pair in pairs])
        return list(record["follows"])

    async def following_ids(
        self, user_id: int, min_follower_count: int, after: int | None, limit: int
    ) -> list[int]:
        return await self._ids(
            _FOLLOWING_IDS, id=user_id, after=after, min=min_follower_count, limit=limit
        )

    async def stream_followers(self, user_id: int, batch_size: int) -> AsyncIterator[list[int]]:
        """One auto-commit read of the follows made up to the stream's start: a follow made
        meanwhile is left out (its own event reaches the fanout), and no follower can come
        twice. The ids are batched in Cypher (a list per record): the driver decodes a list
        element about ten times faster than a record."""
        async with self._driver.session(default_access_mode=READ_ACCESS, fetch_size=1) as session:
            result = await session.run(
                _STREAM_FOLLOWERS, {"id": user_id, "start": _now_ms(), "batch": batch_size}
            )
            async for record in result:
                if record["batch"]:
                    yield list(record["batch"])

    async def friends_of_friends(self, user_id: int, limit: int) -> list[int]:
        return await self._ids(
            _FRIENDS_OF_FRIENDS,
            id=user_id,
            followees=SUGGESTION_FOLLOWEES,
            fanout=SUGGESTION_FANOUT,
            limit=limit,
        )

    async def most_followed(self, user_id: int, limit: int) -> list[int]:
        return await self._ids(_MOST_FOLLOWED, id=user_id, limit=limit)


async def _change(
    tx: AsyncManagedTransaction,
    follower_id: int,
    followee_id: int,
    follow: bool,  # noqa: FBT001  (execute_write passes arguments by position)
) -> tuple[Change, PendingEvent | None]:
    """The follow or unfollow, and the event it stored (None when it changed nothing)."""
    create_time = _now_ms()
    event = _event(
        GRAPH_FOLLOWED if follow else GRAPH_UNFOLLOWED, follower_id, followee_id, create_time
    )
    state = await (
        await tx.run(
            _FOLLOW if follow else _UNFOLLOW,
            ids=sorted({follower_id, followee_id}),
            a=follower_id,
            b=followee_id,
            create_time=create_time,
            rank=follow_rank(create_time, follower_id),
            event_id=event.event_id,
            subject=event.subject,
            payload=event.payload,
            traceparent=event.traceparent,
        )
    ).single(strict=True)
    relationship = Relationship(follower_id, followee_id, follow, bool(state["followed_by"]))
    if bool(state["following"]) == follow:
        return Change(relationship, changed=False), None
    counts = (
        FollowCounts(follower_id, *state["follower"]),
        FollowCounts(followee_id, *state["followee"]),
    )
    return Change(relationship, changed=True, counts=counts), event


def _event(
    subject: Subject[graph_events_pb2.UserFollowedEvent]
    | Subject[graph_events_pb2.UserUnfollowedEvent],
    follower_id: int,
    followee_id: int,
    moment_ms: int,
) -> PendingEvent:
    """The outbox row of a follow's or an unfollow's event."""
    event = subject.type(
        event_id=new_event_id(),
        occur_time=_timestamp(moment_ms),
        follower_id=follower_id,
        followee_id=followee_id,
    )
    return PendingEvent(
        event.event_id, subject.name, event.SerializeToString(), traceparent=tracing.traceparent()
    )


async def _remove_follows(
    tx: AsyncManagedTransaction, user_id: int, limit: int
) -> dict[tuple[int, int], PendingEvent]:
    """Up to ``limit`` follows of ``user_id`` removed as unfollows, by (follower, followee), with
    the events stored for them."""
    found = await (await tx.run(_FOLLOWS_OF, id=user_id, limit=limit)).single(strict=True)
    pairs = [(int(a), int(b)) for a, b in found["pairs"]]
    if not pairs:
        return {}
    ids = sorted({user_id, *(user for pair in pairs for user in pair)})
    await (await tx.run(_LOCK, ids=ids)).consume()
    moment = _now_ms()
    events = {pair: _event(GRAPH_UNFOLLOWED, *pair, moment) for pair in pairs}
    rows = [
        {"a": a, "b": b, "event_id": event.event_id, "payload": event.payload, "offset": i}
        for i, ((a, b), event) in enumerate(events.items())
    ]
    removed = await (
        await tx.run(
            _UNFOLLOW_ALL,
            rows=rows,
            subject=GRAPH_UNFOLLOWED.name,
            traceparent=tracing.traceparent(),
        )
    ).single(strict=True)
    await (await tx.run(_UNLOCK, ids=ids)).consume()
    taken = set(removed["removed"])
    return {pair: event for pair, event in events.items() if event.event_id in taken}


async def _remove_user(tx: AsyncManagedTransaction, user_id: int) -> bool:
    """Whether ``user_id`` has no node now (False: a follow is left)."""
    await (await tx.run(_LOCK, ids=[user_id])).consume()
    record = await (await tx.run(_REMOVE_USER, id=user_id)).single()
    return record is None or not record["followed"]
