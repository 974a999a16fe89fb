"""``GraphStore``: the in-memory fake and the Neo4j store keep the same promises."""

from __future__ import annotations

import pytest
from neo4j import AsyncDriver

from services.graph.adapters.outbox import Neo4jOutboxStore
from services.graph.adapters.store import Neo4jGraphStore
from services.graph.model import Change, FollowCounts, Listed, Relationship
from services.graph.ports import GraphStore
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.graph.fakes import MemoryStore


def _memory(_: pytest.FixtureRequest) -> GraphStore:
    return MemoryStore()


def _neo4j(request: pytest.FixtureRequest) -> GraphStore:
    driver: AsyncDriver = request.getfixturevalue("neo4j")
    return Neo4jGraphStore(driver, Neo4jOutboxStore(driver))


store = implementations(memory=unit(_memory), neo4j=integration(_neo4j))


def _ids(count: int) -> list[int]:
    """Fresh users, ascending."""
    return sorted(random_user_id() for _ in range(count))


def _newest_first(rows: list[Listed]) -> bool:
    return rows == sorted(rows, key=lambda row: (row.create_time, row.user_id), reverse=True)


async def test_a_follow_changes_once_and_counts_both_users(store: GraphStore) -> None:
    a, b = _ids(2)
    assert await store.counts([a, b]) == {}
    follows = Relationship(a, b, following=True, followed_by=False)
    counted = (FollowCounts(a, 0, 1), FollowCounts(b, 1, 0))
    assert await store.follow(a, b) == Change(follows, changed=True, counts=counted)
    assert await store.follow(a, b) == Change(follows, changed=False)
    assert await store.counts([a, b]) == {a: FollowCounts(a, 0, 1), b: FollowCounts(b, 1, 0)}
    assert await store.relationship(b, a) == Relationship(b, a, following=False, followed_by=True)
    strangers = Relationship(a, b, following=False, followed_by=False)
    uncounted = (FollowCounts(a), FollowCounts(b))
    assert await store.unfollow(a, b) == Change(strangers, changed=True, counts=uncounted)
    assert await store.unfollow(a, b) == Change(strangers, changed=False)
    assert await store.counts([a, b]) == {a: FollowCounts(a), b: FollowCounts(b)}


async def test_each_change_moves_both_users_counts_version_by_one(store: GraphStore) -> None:
    """The version a change's counts carry is the next one read, one past the one before."""
    a, b, c = _ids(3)
    await store.follow(a, b)
    await store.ensure_user(c)
    before = await store.counts([a, b, c])
    change = await store.follow(c, b)
    assert change.counts is not None
    follower, followee = change.counts
    after = await store.counts([a, b, c])
    assert (follower.version, followee.version) == (after[c].version, after[b].version)
    assert after[b].version == before[b].version + 1
    assert after[c].version == before[c].version + 1
    assert after[a].version == before[a].version  # not in the change
    await store.follow(c, b)  # changes nothing
    assert (await store.counts([b]))[b].version == after[b].version


async def test_every_user_a_change_names_has_a_node(store: GraphStore) -> None:
    a, b, c = _ids(3)
    await store.unfollow(a, b)  # changes nothing, but both users are known now
    await store.ensure_user(c)
    await store.ensure_user(c)
    assert await store.counts([a, b, c]) == {u: FollowCounts(u) for u in (a, b, c)}


async def test_lists_are_newest_first_and_continue_after_a_cursor(store: GraphStore) -> None:
    star, other, *fans = _ids(6)
    for fan in fans:
        await store.follow(fan, star)
    await store.follow(fans[0], other)
    for listed, owner, expected in (
        (store.followers, star, set(fans)),
        (store.following, fans[0], {star, other}),
    ):
        rows = await listed(owner, None, 10)
        assert {row.user_id for row in rows} == expected
        assert _newest_first(rows)
        first = await listed(owner, None, 1)
        assert first + await listed(owner, first[-1].cursor, 10) == rows


async def test_edges_are_checked_in_the_order_asked(store: GraphStore) -> None:
    a, b, nobody = _ids(3)
    await store.follow(a, b)
    assert await store.check([(a, b), (b, a), (a, b), (a, nobody)]) == [True, False, True, False]
    assert await store.check([]) == []


async def test_following_ids_ascend_after_a_cursor_among_the_followed_enough(
    store: GraphStore,
) -> None:
    me, fan, *followed = _ids(5)
    for user_id in followed:
        await store.follow(me, user_id)
    await store.follow(fan, followed[1])
    assert await store.following_ids(me, 0, None, 10) == followed
    assert await store.following_ids(me, 0, followed[0], 10) == followed[1:]
    assert await store.following_ids(me, 0, None, 2) == followed[:2]
    assert await store.following_ids(me, 2, None, 10) == [followed[1]]


async def test_a_stream_gives_every_follower_in_bounded_batches(store: GraphStore) -> None:
    star, nobody, *fans = _ids(7)
    for fan in fans:
        await store.follow(fan, star)
    batches = [batch async for batch in store.stream_followers(star, 2)]
    assert all(0 < len(batch) <= 2 for batch in batches)
    assert sorted(follower for batch in batches for follower in batch) == fans
    assert [batch async for batch in store.stream_followers(nobody, 2)] == []


async def test_friends_of_friends_rank_by_friends_then_by_followers(store: GraphStore) -> None:
    me, outsider, first, second, third, popular, plain = _ids(7)
    shared = random_user_id()
    for friend in (first, second, third):
        await store.follow(me, friend)
    for friend in (first, second):
        await store.follow(friend, shared)  # followed by two friends
    await store.follow(first, plain)  # each followed by one friend: the one with more
    await store.follow(second, popular)  # followers first, though its id is lower
    await store.follow(outsider, popular)
    await store.follow(third, me)  # never suggested: the user
    await store.follow(third, first)  # never suggested: followed already
    assert await store.friends_of_friends(me, 10) == [shared, popular, plain]
    assert await store.friends_of_friends(me, 2) == [shared, popular]


async def test_the_most_followed_leave_out_the_user_and_whom_they_follow(
    store: GraphStore,
) -> None:
    me, star, other, *fans = _ids(6)
    await store.follow(me, star)
    for fan in fans:
        await store.follow(fan, star)
        await store.follow(fan, other)
    ranked = await store.most_followed(me, 20)
    assert ranked
    assert len(ranked) <= 20
    assert me not in ranked
    assert star not in ranked
    counts = await store.counts(ranked)
    order = [(counts[user_id].follower_count, user_id) for user_id in ranked]
    assert order == sorted(order, reverse=True)
    assert all(followers > 0 for followers, _ in order)


async def test_an_erasure_removes_follows_both_ways_in_batches_then_the_node(
    store: GraphStore,
) -> None:
    gone, fan, other_fan, followed = _ids(4)
    await store.follow(fan, gone)
    await store.follow(other_fan, gone)
    await store.follow(gone, followed)
    await store.follow(fan, followed)  # not the erased account's: stays
    first = await store.remove_follows(gone, 2)
    assert len(first) == 2
    assert not await store.remove_user(gone)  # a follow is left
    rest = await store.remove_follows(gone, 2)
    assert sorted(first + rest) == sorted([(fan, gone), (other_fan, gone), (gone, followed)])
    assert await store.remove_follows(gone, 2) == []
    assert await store.remove_user(gone)
    assert await store.remove_user(gone)  # gone already
    assert await store.counts([gone, fan, other_fan, followed]) == {
        fan: FollowCounts(fan, 0, 1),
        other_fan: FollowCounts(other_fan),
        followed: FollowCounts(followed, 1, 0),
    }
    assert await store.check([(fan, followed)]) == [True]
