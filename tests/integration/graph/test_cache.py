"""Follow counts kept in the real Redis under the users' counts of followings and followers
changes: a follow counted by the graph service shows at the next read; Neo4j (here a counting
stand-in for the store, the cache's source) is asked only for what is not kept."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis

from services.graph.adapters.cache import (
    ERASED,
    TTL_SECONDS,
    RedisCountedChanges,
    RedisFollowCounts,
    RedisKeptCopies,
    RedisSuggestions,
    counts_key,
)
from services.graph.model import FollowCounts
from services.platform.caches.followings import RedisFollowChanges
from services.platform.resp import RespClient


@dataclass
class Store:
    """The counts the store holds, and which users it was asked for."""

    held: dict[int, FollowCounts] = field(default_factory=dict)
    asked: list[int] = field(default_factory=list)

    async def counts(self, user_ids: Sequence[int]) -> dict[int, FollowCounts]:
        self.asked.extend(user_ids)
        return {u: self.held[u] for u in user_ids if u in self.held}


def _ids(count: int) -> list[int]:
    return [uuid.uuid4().int >> 66 for _ in range(count)]


async def test_counts_are_read_from_redis_until_a_follow_changes_them(
    resp: RespClient, redis: Redis
) -> None:
    ada, bob, cy, nobody = _ids(4)
    store = Store({ada: FollowCounts(ada, 10, 2), bob: FollowCounts(bob, 0, 7)})
    counts = RedisFollowCounts(resp, store)
    expected = {ada: FollowCounts(ada, 10, 2), bob: FollowCounts(bob, 0, 7)}
    assert await counts.counts([ada, bob, nobody]) == expected
    assert await counts.counts([ada, bob, nobody]) == expected
    # Unknown to the store (not made yet, or erased): asked again, never kept.
    assert store.asked == [ada, bob, nobody, nobody]
    assert 0 < await redis.ttl(counts_key(ada)) <= TTL_SECONDS
    assert await redis.exists(counts_key(nobody)) == 0

    # cy follows ada: ada's followers and cy's followings changed, bob's counts did not.
    store.held[ada] = FollowCounts(ada, 11, 2)
    store.held[cy] = FollowCounts(cy, 0, 1)
    await RedisFollowChanges(resp).changed(cy, ada)
    store.asked.clear()
    assert await counts.counts([ada, bob, cy]) == {
        ada: FollowCounts(ada, 11, 2),
        bob: FollowCounts(bob, 0, 7),
        cy: FollowCounts(cy, 0, 1),
    }
    assert store.asked == [ada, cy]


async def test_a_follow_keeps_the_counts_it_made(resp: RespClient) -> None:
    """The copies current just before the change become its counts: the next read of either
    user asks the store for nothing."""
    ada, cy = _ids(2)
    store = Store({ada: FollowCounts(ada, 10, 2, 5), cy: FollowCounts(cy, 0, 0, 0)})
    counts = RedisFollowCounts(resp, store)
    await counts.counts([ada, cy])
    after = (FollowCounts(cy, 0, 1, 1), FollowCounts(ada, 11, 2, 6))  # cy follows ada
    store.held.update({c.user_id: c for c in after})
    store.asked.clear()
    await RedisCountedChanges(resp).changed(cy, ada, after)
    assert await counts.counts([ada, cy]) == {ada: after[1], cy: after[0]}
    assert store.asked == []


async def test_changes_counted_out_of_order_keep_no_counts(resp: RespClient) -> None:
    """bob's follow of ada (version 6) and then cy's (version 7), their counts kept in the
    other order: neither copy was current just before its change, so ada's counts are read
    from the store again. A change counted without its counts (an erasure's) likewise stops
    the next change from keeping its own."""
    ada, bob, cy, dan = _ids(4)
    store = Store({ada: FollowCounts(ada, 10, 2, 5)})
    counts = RedisFollowCounts(resp, store)
    changes = RedisCountedChanges(resp)
    await counts.counts([ada])
    by_bob, by_cy = FollowCounts(ada, 11, 2, 6), FollowCounts(ada, 12, 2, 7)
    store.held[ada] = by_cy
    await changes.changed(cy, ada, (FollowCounts(cy, 0, 1, 1), by_cy))
    await changes.changed(bob, ada, (FollowCounts(bob, 0, 1, 1), by_bob))
    store.asked.clear()
    assert await counts.counts([ada]) == {ada: by_cy}
    assert store.asked == [ada]

    await changes.changed(ada, dan)  # an erasure's: counted only
    store.held[ada] = FollowCounts(ada, 13, 1, 9)
    await changes.changed(cy, ada, (FollowCounts(cy, 0, 1, 2), FollowCounts(ada, 13, 1, 9)))
    store.asked.clear()
    assert await counts.counts([ada]) == {ada: FollowCounts(ada, 13, 1)}
    assert store.asked == [ada]


async def test_a_change_never_replaces_an_erased_accounts_tombstone(
    resp: RespClient, redis: Redis
) -> None:
    ada, cy = _ids(2)
    await RedisKeptCopies(resp).forget(ada)
    await RedisCountedChanges(resp).changed(
        cy, ada, (FollowCounts(cy, 0, 1, 1), FollowCounts(ada, 1, 0, 1))
    )
    assert await redis.get(counts_key(ada)) == ERASED


async def test_suggestions_are_kept_until_the_user_follows_someone(resp: RespClient) -> None:
    me, friend = _ids(2)
    suggestions = RedisSuggestions(resp)
    rankings = [[3, 2, 1], [4, 3]]

    async def rank() -> list[int]:
        return rankings.pop(0)

    assert await suggestions.ranked(me, rank) == [3, 2, 1]
    assert await suggestions.ranked(me, rank) == [3, 2, 1]  # kept: not ranked again
    await RedisFollowChanges(resp).changed(friend, 99)  # someone else's follow: still kept
    assert await suggestions.ranked(me, rank) == [3, 2, 1]
    await RedisFollowChanges(resp).changed(me, 3)
    assert await suggestions.ranked(me, rank) == [4, 3]
    assert rankings == []


async def test_a_read_from_before_an_erasure_keeps_nothing_after_it(
    resp: RespClient, redis: Redis
) -> None:
    """A read that asked the store while the account was there, and would keep its counts only
    once the erasure has dropped its copies: answered, but the tombstone stays."""
    (ada,) = _ids(1)
    counts = RedisFollowCounts(resp, _ErasedWhileAsked(resp, FollowCounts(ada, 3, 4)))
    assert await counts.counts([ada]) == {ada: FollowCounts(ada, 3, 4)}
    assert await redis.get(counts_key(ada)) == ERASED
    assert 0 < await redis.ttl(counts_key(ada)) <= TTL_SECONDS


@dataclass
class _ErasedWhileAsked:
    """A store that answers for the account, which is erased before the answer is kept."""

    resp: RespClient
    held: FollowCounts

    async def counts(self, user_ids: Sequence[int]) -> dict[int, FollowCounts]:
        await RedisKeptCopies(self.resp).forget(self.held.user_id)
        return {user: self.held for user in user_ids if user == self.held.user_id}
