"""The Neo4j graph store against the real Neo4j: edges, counts, lists, streams, suggestions.

Users are random ids far above real accounts', so tests do not see each other's nodes.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from neo4j import AsyncDriver

from services.graph.adapters.outbox import DELETE_BATCH, Neo4jOutboxStore
from services.graph.adapters.store import FOLLOWERS_PAGE, Neo4jGraphStore, follow_rank, rank_below
from services.graph.model import Relationship
from services.platform.migrate import SERVICES, statements
from services.platform.outbox import PendingEvent, new_event_id
from tests.integration.graph.support import count_edges
from tests.integration.tweets.tokens import random_user_id


@pytest.fixture
def store(driver: AsyncDriver) -> Neo4jGraphStore:
    return Neo4jGraphStore(driver, Neo4jOutboxStore(driver))


async def _bulk_follow(driver: AsyncDriver, followee: int, followers: list[int], t: int) -> None:
    """Edges made directly (fast set-up), with counts as the store keeps them."""
    await driver.execute_query(
        "MERGE (u:User {id: $followee}) "
        "WITH u UNWIND $followers AS row "
        "MERGE (f:User {id: row[0]}) "
        "CREATE (f)-[:FOLLOWS {create_time: $t, followee: $followee, rank: row[1]}]->(u) "
        "SET f.following_count = coalesce(f.following_count, 0) + 1, "
        "    u.follower_count = coalesce(u.follower_count, 0) + 1",
        {
            "followee": followee,
            "followers": [[follower, follow_rank(t, follower)] for follower in followers],
            "t": t,
        },
    )


async def test_a_change_hands_its_stored_event_to_the_relay(driver: AsyncDriver) -> None:
    outbox = Neo4jOutboxStore(driver)
    store = Neo4jGraphStore(driver, outbox)
    a, b = random_user_id(), random_user_id()
    await store.follow(a, b)
    await store.follow(a, b)  # no change: no event
    await store.unfollow(a, b)
    handed = outbox.take()
    assert [row.subject for row in handed] == ["graph.followed", "graph.unfollowed"]
    assert outbox.written.is_set()
    assert outbox.take() == []


async def _outbox_nodes(driver: AsyncDriver, rows: list[PendingEvent]) -> list[str]:
    """The ids of ``rows`` whose outbox nodes are still there, in order."""
    records, _, _ = await driver.execute_query(
        "MATCH (e:OutboxEvent) WHERE e.event_id IN $ids RETURN e.event_id AS id ORDER BY id",
        {"ids": [row.event_id for row in rows]},
    )
    return [record["id"] for record in records]


async def test_published_events_are_deleted_together(driver: AsyncDriver) -> None:
    outbox = Neo4jOutboxStore(driver)
    rows = [PendingEvent(new_event_id(), "graph.followed", b"") for _ in range(DELETE_BATCH + 2)]
    await driver.execute_query(
        "UNWIND $ids AS id CREATE (:OutboxEvent {event_id: id, subject: 'graph.followed'})",
        {"ids": [row.event_id for row in rows]},
    )
    await outbox.remove(rows[:2])
    assert len(await _outbox_nodes(driver, rows)) == len(rows)  # not yet: they wait
    await outbox.pending(1)  # ... until the relay reads the store
    assert await _outbox_nodes(driver, rows) == sorted(row.event_id for row in rows[2:])
    await outbox.remove(rows[2:-1])
    assert len(await _outbox_nodes(driver, rows)) == DELETE_BATCH  # 99 wait
    await outbox.remove(rows[-1:])  # ... or until a batch is full
    assert await _outbox_nodes(driver, rows) == []


async def test_a_follow_makes_missing_nodes_counts_both_and_is_idempotent(
    store: Neo4jGraphStore, driver: AsyncDriver
) -> None:
    a, b = random_user_id(), random_user_id()
    first = await store.follow(a, b)
    assert first.changed
    assert first.relationship == Relationship(a, b, following=True, followed_by=False)
    again = await store.follow(a, b)
    assert not again.changed
    assert await count_edges(driver, b) == (1, 0, 1, 0)
    assert await count_edges(driver, a) == (0, 1, 0, 1)

    back = await store.follow(b, a)
    assert back.relationship == Relationship(b, a, following=True, followed_by=True)
    assert await store.relationship(a, b) == Relationship(a, b, following=True, followed_by=True)

    gone = await store.unfollow(a, b)
    assert gone.changed
    assert gone.relationship == Relationship(a, b, following=False, followed_by=True)
    assert not (await store.unfollow(a, b)).changed
    assert await count_edges(driver, b) == (0, 1, 0, 1)
    assert await count_edges(driver, a) == (1, 0, 1, 0)
    counts = await store.counts([a, b, random_user_id()])
    assert (counts[a].follower_count, counts[a].following_count) == (1, 0)
    assert len(counts) == 2  # a node-less id is absent (the domain answers it with zeros)


async def test_relationship_of_strangers_without_nodes(store: Neo4jGraphStore) -> None:
    a, b = random_user_id(), random_user_id()
    assert await store.relationship(a, b) == Relationship(a, b, following=False, followed_by=False)


async def test_counts_are_exact_after_200_concurrent_follows_and_unfollows(
    store: Neo4jGraphStore, driver: AsyncDriver
) -> None:
    target = random_user_id()
    fans = [random_user_id() for _ in range(100)]
    for fan in fans[::2]:  # half start out following
        await store.follow(fan, target)
    operations = [store.follow(fan, target) for fan in fans] + [
        store.unfollow(fan, target) for fan in fans
    ]
    random.shuffle(operations)
    await asyncio.gather(*operations)

    followers, _, follower_count, _ = await count_edges(driver, target)
    assert follower_count == followers
    for fan in fans:
        _, following, _, following_count = await count_edges(driver, fan)
        assert following_count == following in (0, 1)


async def test_pages_neither_repeat_nor_skip_while_follows_arrive(
    store: Neo4jGraphStore, driver: AsyncDriver
) -> None:
    target = random_user_id()
    before = [random_user_id() for _ in range(60)]
    for fan in before:
        await store.follow(fan, target)
    # Some share one create_time: ties are ordered by id.
    await _bulk_follow(driver, target, [random_user_id() for _ in range(20)], 1_700_000_000_000)
    existing = {row.user_id for row in await store.followers(target, None, 1000)}
    assert len(existing) == 80

    async def arrive() -> None:
        for _ in range(40):
            await store.follow(random_user_id(), target)

    seen: list[int] = []

    async def page_through() -> None:
        cursor = None
        while True:
            rows = await store.followers(target, cursor, 7)
            seen.extend(row.user_id for row in rows)
            if len(rows) < 7:
                return
            cursor = rows[-1].cursor
            await asyncio.sleep(0.01)

    await asyncio.gather(arrive(), page_through())
    assert len(seen) == len(set(seen))  # nothing twice
    assert existing <= set(seen)  # nobody who followed before was skipped


async def test_a_followers_page_reads_its_own_edges_at_any_depth(
    store: Neo4jGraphStore, driver: AsyncDriver
) -> None:
    target = random_user_id()
    fans = [random_user_id() for _ in range(3000)]
    for start in range(0, len(fans), 1000):
        await _bulk_follow(driver, target, fans[start : start + 1000], 1_700_000_000_000 + start)
    deep = (await store.followers(target, None, 2000))[-1].cursor

    for before in (None, deep):
        profiled = await driver.execute_query(
            "PROFILE " + FOLLOWERS_PAGE, {"id": target, "before": rank_below(before), "limit": 20}
        )
        hits = _db_hits(profiled.summary.profile)
        assert hits <= 100, f"a page of 20 of 3,000 followers cost {hits} db hits"
    assert len(await store.followers(target, deep, 20)) == 20


def _db_hits(plan: dict[str, Any] | None) -> int:
    assert plan is not None
    return int(plan.get("dbHits", 0)) + sum(_db_hits(child) for child in plan.get("children", []))


async def test_edges_made_before_the_rank_get_it_from_the_migration(
    store: Neo4jGraphStore, driver: AsyncDriver
) -> None:
    target, old, new = random_user_id(), random_user_id(), random_user_id()
    await driver.execute_query(
        "CREATE (:User {id: $old})-[:FOLLOWS {create_time: 1700000000123}]->(:User {id: $id})",
        {"id": target, "old": old},
    )
    await store.follow(new, target)

    for statement in statements(SERVICES / "graph" / "schema" / "0003_follower_pages.cypher"):
        async with driver.session() as session:
            await (await session.run(statement)).consume()

    rows = await store.followers(target, None, 10)
    assert [row.user_id for row in rows] == [new, old]
    assert rows[1].create_time == 1700000000123
    records, _, _ = await driver.execute_query(
        "MATCH (:User {id: $old})-[f:FOLLOWS]->() RETURN f.rank AS rank", {"old": old}
    )
    assert records[0]["rank"] == follow_rank(1700000000123, old)


async def test_following_lists_newest_first_and_following_ids_filter(
    store: Neo4jGraphStore, driver: AsyncDriver
) -> None:
    me = random_user_id()
    followees = [random_user_id() for _ in range(5)]
    for followee in followees:
        await store.follow(me, followee)
        await asyncio.sleep(0.002)  # distinct create_times
    listed = await store.following(me, None, 10)
    assert [row.user_id for row in listed] == followees[::-1]
    assert [row.user_id for row in await store.following(me, listed[1].cursor, 10)] == followees[
        2::-1
    ]

    popular = followees[0]
    await _bulk_follow(driver, popular, [random_user_id() for _ in range(3)], 1)
    assert await store.following_ids(me, 4, None, 10) == [popular]
    everyone = await store.following_ids(me, 0, None, 10)
    assert everyone == sorted(followees)
    assert await store.following_ids(me, 0, everyone[2], 10) == everyone[3:]


async def test_check_answers_in_request_order(store: Neo4jGraphStore) -> None:
    a, b, c = random_user_id(), random_user_id(), random_user_id()
    await store.follow(a, b)
    await store.follow(c, a)
    assert await store.check([(a, b), (b, a), (c, a), (a, c), (a, random_user_id())]) == [
        True,
        False,
        True,
        False,
        False,
    ]
    assert await store.check([]) == []


async def test_stream_followers_in_batches_from_the_start_of_the_stream(
    store: Neo4jGraphStore, driver: AsyncDriver
) -> None:
    target = random_user_id()
    fans = [random_user_id() for _ in range(2500)]
    await _bulk_follow(driver, target, fans, 1_700_000_000_000)
    batches = [batch async for batch in store.stream_followers(target, 1000)]
    assert [len(batch) for batch in batches] == [1000, 1000, 500]
    assert sorted(id_ for batch in batches for id_ in batch) == sorted(fans)

    # A follow made after the stream started is not in it (its own event reaches fanout).
    stream = store.stream_followers(target, 10)
    first = await anext(stream)
    late = random_user_id()
    await _bulk_follow(driver, target, [late], 4_000_000_000_000)
    rest = [id_ async for batch in stream for id_ in batch]
    assert late not in first + rest
    assert len(first) + len(rest) == 2500

    assert [batch async for batch in store.stream_followers(random_user_id(), 1000)] == []


async def test_friends_of_friends_ranked_by_how_many_followees_follow_them(
    store: Neo4jGraphStore,
) -> None:
    me, a, b, c = (random_user_id() for _ in range(4))
    s1, s2, s3, already = (random_user_id() for _ in range(4))
    for friend in (a, b, c, already):
        await store.follow(me, friend)
    for friend in (a, b, c):
        await store.follow(friend, s1)
    for friend in (a, b):
        await store.follow(friend, s2)
    await store.follow(a, s3)
    await store.follow(a, already)  # followed already: never suggested
    await store.follow(b, me)  # oneself: never suggested
    assert await store.friends_of_friends(me, 10) == [s1, s2, s3]
    assert await store.friends_of_friends(me, 2) == [s1, s2]
    assert await store.friends_of_friends(random_user_id(), 10) == []


async def test_most_followed_leaves_out_oneself_and_followees(
    store: Neo4jGraphStore, driver: AsyncDriver
) -> None:
    top = await store.most_followed(random_user_id(), 20)
    counts = await store.counts(top)
    ranked = [counts[user_id].follower_count for user_id in top]
    assert ranked == sorted(ranked, reverse=True)
    assert all(count > 0 for count in ranked)

    # A node more followed than any (its count set directly, removed afterwards).
    star, fan = random_user_id(), random_user_id()
    await store.follow(fan, star)
    await driver.execute_query(
        "MATCH (u:User {id: $id}) SET u.follower_count = $many", {"id": star, "many": 10**15}
    )
    try:
        assert (await store.most_followed(random_user_id(), 3))[0] == star
        assert star not in await store.most_followed(fan, 3)
        assert star not in await store.most_followed(star, 3)
    finally:
        await driver.execute_query(
            "MATCH (u:User) WHERE u.id IN $ids DETACH DELETE u", {"ids": [star, fan]}
        )
