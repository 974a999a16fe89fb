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
