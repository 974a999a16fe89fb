"""Profile counts and relationships kept in the real Redis under the owners' counts of changes:
a change counted by its owner shows at the next read; a failure is never kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from services.platform.caches.followings import RedisFollowChanges
from services.platform.caches.timeline_writes import timeline_writes
from services.platform.resp import RespClient
from services.platform.settings import StoreSettings
from services.users.adapters.cache import (
    SOCIAL_TTL_SECONDS,
    RedisSocialCache,
    cache_client,
    counts_key,
    relationship_key,
)
from services.users.model import Counts, Relationship

SETTINGS = StoreSettings()
NONE = Relationship(caller_follows=False, follows_caller=False)
FOLLOWS = Relationship(caller_follows=True, follows_caller=False)
FOLLOWED = Relationship(caller_follows=False, follows_caller=True)
BOTH = Relationship(caller_follows=True, follows_caller=True)


@dataclass
class Owners:
    """The graph and tweets services as the cache sees them: what they answer, and how often
    they were asked."""

    counts_of: dict[int, Counts] = field(default_factory=dict)
    follows: set[tuple[int, int]] = field(default_factory=set)
    down: bool = False
    asked: list[int] = field(default_factory=list)

    async def counts(self, user_ids: Sequence[int]) -> dict[int, Counts]:
        self.asked.extend(user_ids)
        return {} if self.down else {u: self.counts_of.get(u, Counts()) for u in user_ids}

    async def relationships(
        self, caller_id: int, user_ids: Sequence[int]
    ) -> dict[int, Relationship]:
        self.asked.extend(user_ids)
        if self.down:
            return {}
        return {
            u: Relationship((caller_id, u) in self.follows, (u, caller_id) in self.follows)
            for u in user_ids
        }


@pytest.fixture
async def resp() -> AsyncIterator[RespClient]:
    """The users service's client of its cache (``cache_client``) on the local stack's Redis."""
    client = cache_client(SETTINGS.redis_url)
    yield client
    await client.aclose()


def _ids(count: int) -> list[int]:
    return [uuid.uuid4().int >> 66 for _ in range(count)]


async def test_counts_are_kept_until_their_owner_counts_a_change(
    resp: RespClient, redis: Redis
) -> None:
    ada, bob, cy = _ids(3)
    owners = Owners({ada: Counts(1, 2, 3), bob: Counts(4, 5, 6)})
    cache = RedisSocialCache(resp, owners)
    assert await cache.counts([ada, bob]) == {ada: Counts(1, 2, 3), bob: Counts(4, 5, 6)}
    assert await cache.counts([ada, bob]) == {ada: Counts(1, 2, 3), bob: Counts(4, 5, 6)}
    assert owners.asked == [ada, bob]
    assert 0 < await redis.ttl(counts_key(ada)) <= SOCIAL_TTL_SECONDS

    # cy follows ada: ada's followers and cy's followings changed, bob's counts did not.
    owners.counts_of[ada] = Counts(2, 2, 3)
    await RedisFollowChanges(resp).changed(cy, ada)
    assert await cache.counts([ada, bob, cy]) == {
        ada: Counts(2, 2, 3),
        bob: Counts(4, 5, 6),
        cy: Counts(),
    }
    assert owners.asked[2:] == [ada, cy]

    # bob follows someone, then posts: each shows at the next read.
    owners.counts_of[bob] = Counts(4, 6, 6)
    await RedisFollowChanges(resp).changed(bob, cy)
    assert (await cache.counts([bob]))[bob] == Counts(4, 6, 6)
    owners.counts_of[bob] = Counts(4, 6, 7)
    await timeline_writes(resp).changed(bob)
    assert (await cache.counts([bob]))[bob] == Counts(4, 6, 7)
    assert (await cache.counts([bob]))[bob] == Counts(4, 6, 7)
    assert owners.asked[4:] == [bob, bob]


async def test_relationships_are_kept_until_either_side_follows_or_unfollows(
    resp: RespClient, redis: Redis
) -> None:
    ada, bob, cy = _ids(3)
    owners = Owners(follows={(ada, bob)})
    cache = RedisSocialCache(resp, owners)
    expected = {bob: FOLLOWS, cy: NONE}
    assert await cache.relationships(ada, [bob, cy]) == expected
    assert await cache.relationships(ada, [bob, cy]) == expected
    assert owners.asked == [bob, cy]
    assert 0 < await redis.ttl(relationship_key(ada, bob)) <= SOCIAL_TTL_SECONDS

    owners.follows.add((bob, ada))  # a change of bob's followings
    await RedisFollowChanges(resp).changed(bob, ada)
    assert await cache.relationships(ada, [bob, cy]) == {
        bob: BOTH,
        cy: NONE,
    }
    owners.follows.add((ada, cy))  # a change of the caller's followings: all are read again
    await RedisFollowChanges(resp).changed(ada, cy)
    assert await cache.relationships(ada, [bob, cy]) == {
        bob: BOTH,
        cy: FOLLOWS,
    }
    assert owners.asked == [bob, cy, bob, bob, cy]


async def test_what_the_owners_could_not_answer_is_not_kept(resp: RespClient) -> None:
    ada, bob = _ids(2)
    owners = Owners({ada: Counts(1, 1, 1)}, down=True)
    cache = RedisSocialCache(resp, owners)
    assert await cache.counts([ada]) == {}
    assert await cache.relationships(ada, [bob]) == {}
    owners.down = False
    assert await cache.counts([ada]) == {ada: Counts(1, 1, 1)}
    assert await cache.relationships(ada, [bob]) == {bob: NONE}
    assert owners.asked == [ada, bob, ada, bob]


async def test_an_unreachable_redis_asks_the_owners() -> None:
    unreachable = cache_client("redis://127.0.0.1:1/0")  # nothing listens on port 1
    ada, bob = _ids(2)
    owners = Owners({ada: Counts(3, 2, 1)}, follows={(bob, ada)})
    cache = RedisSocialCache(unreachable, owners)
    assert await cache.counts([ada]) == {ada: Counts(3, 2, 1)}
    assert await cache.relationships(ada, [bob]) == {bob: FOLLOWED}
    await unreachable.aclose()
