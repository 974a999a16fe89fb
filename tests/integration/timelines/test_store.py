"""The Redis timeline store against the real Redis (keys of random test users only)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from services.platform.caches.changes import RedisChangeCounts
from services.platform.caches.followings import followers_changes, followings_changes
from services.platform.resp import RespClient
from services.timelines.adapters.live import RedisLiveUpdates, parse_live
from services.timelines.adapters.store import (
    LIVE_CHANNEL,
    RedisCountedIdLists,
    RedisTimelineStore,
    home_key,
)
from services.timelines.model import LiveChange
from tests.integration.tweets.tokens import random_user_id

BIG = 2**62  # ids above 2^53, where a double score would round


async def test_fanout_writes_only_existing_timelines_and_keeps_the_newest(
    store: RedisTimelineStore, redis: Redis
) -> None:
    active, away = random_user_id(), random_user_id()
    await store.store(active, [])
    assert await store.read(active, None, 10) == ([], True)  # exists though empty
    assert await store.push([active, away], [BIG + 1]) == 1
    assert await redis.exists(home_key(away)) == 0
    ids = [BIG + i for i in range(2, 9)]
    for tweet_id in ids:
        await store.push([active], [tweet_id])
    assert await store.push([active], [BIG + 8]) == 1  # a redelivery: written, no change
    newest = sorted(ids, reverse=True)[:5]
    assert await store.read(active, None, 10) == (newest, True)
    assert await redis.zcard(home_key(active)) == 6  # five ids and the sentinel


async def test_reads_page_by_id_exactly_and_mark_the_owner_active(
    store: RedisTimelineStore, redis: Redis
) -> None:
    user = random_user_id()
    assert await store.read(user, None, 10) == ([], False)
    assert await redis.exists(home_key(user)) == 0  # a read does not create the key
    ids = [BIG + 1, BIG + 2, BIG + 3]  # one apart: equal as doubles, distinct here
    await store.store(user, ids)
    await redis.expire(home_key(user), 5)
    assert await store.read(user, None, 2) == ([BIG + 3, BIG + 2], True)
    assert await store.read(user, BIG + 2, 10) == ([BIG + 1], True)
    assert await redis.ttl(home_key(user)) > 500  # the read set the active window again


async def test_remove_and_live_messages(store: RedisTimelineStore, redis: Redis) -> None:
    """What the fanout's scripts publish, as a stream's feed (``RedisLiveUpdates``) reads it."""
    user = random_user_id()
    await store.store(user, [10, 20])
    async with RedisLiveUpdates(redis).follow(user) as feed:
        await store.push([user], [30, 20])
        await store.remove([user], [10, 99])
        await store.remove([user], [10])  # nothing left to remove: nothing published
        messages: list[LiveChange] = []
        async with asyncio.timeout(5):
            while len(messages) < 2:
                if change := await feed.next(1):
                    messages.append(change)
        assert messages == [LiveChange(added=[30]), LiveChange(removed=[10])]
        assert await feed.next(0.3) is None
    assert await store.read(user, None, 10) == ([30, 20], True)


async def test_a_fill_that_raced_a_forget_does_not_write(store: RedisTimelineStore) -> None:
    reader = random_user_id()
    _, stale = await store.celebrities_followed.get([reader])  # a read misses, asks graph...
    await store.celebrities_followed.forget([reader])  # ...meanwhile the reader follows someone
    await store.celebrities_followed.fill({reader: [1]}, stale)  # the (stale) answer
    found, fresh = await store.celebrities_followed.get([reader])
    assert found == {}
    await store.celebrities_followed.fill({reader: [2, 1]}, fresh)  # the next read's fill
    assert (await store.celebrities_followed.get([reader]))[0] == {reader: [2, 1]}
    await store.celebrities_followed.forget([reader])
    # An old stamp never matches a new mark.
    await store.celebrities_followed.fill({reader: [1]}, fresh)
    assert (await store.celebrities_followed.get([reader]))[0] == {}


async def test_a_held_list_is_replaced_only_by_a_fill_based_on_it(
    store: RedisTimelineStore,
) -> None:
    reader = random_user_id()
    _, absent = await store.celebrities_followed.get([reader])
    await store.celebrities_followed.fill({reader: [0, 7]}, absent)
    held, stamps = await store.celebrities_followed.get([reader])
    assert held == {reader: [0, 7]}
    await store.celebrities_followed.fill({reader: [1, 7, 8]}, stamps)  # recomputed from it
    await store.celebrities_followed.fill({reader: [1, 9]}, stamps)  # a fill based on the old
    assert (await store.celebrities_followed.get([reader]))[0] == {reader: [1, 7, 8]}


@pytest.mark.parametrize(
    ("lists", "counted"),
    [("celebrities_followed", followings_changes), ("followers", followers_changes)],
)
async def test_a_kept_list_comes_with_its_owners_count_of_changes_in_one_read(
    store: RedisTimelineStore,
    resp: RespClient,
    lists: str,
    counted: Callable[[RespClient], RedisChangeCounts],
) -> None:
    """A reader's followed celebrities under the count of changes of their followings; an
    author's followers under the count of changes of their followers."""
    kept_lists: RedisCountedIdLists = getattr(store, lists)
    owner = random_user_id()
    kept, stamp, changes = await kept_lists.kept(owner)
    assert (kept, changes) == (None, 0)
    await counted(resp).changed(owner)
    await kept_lists.fill({owner: [1, 7]}, {owner: stamp})
    kept, stamp, changes = await kept_lists.kept(owner)
    assert (kept, changes) == ([1, 7], 1)
    assert (await kept_lists.get([owner]))[1] == {owner: stamp}
    await kept_lists.forget([owner])
    kept, forgotten, _ = await kept_lists.kept(owner)
    assert kept is None
    await kept_lists.fill({owner: [1, 9]}, {owner: stamp})  # based on the old
    await kept_lists.fill({owner: [1, 8]}, {owner: forgotten})
    assert (await kept_lists.kept(owner))[0] == [1, 8]


async def test_one_call_is_one_live_message_for_the_timelines_that_took_every_id(
    store: RedisTimelineStore, redis: Redis
) -> None:
    first, second, away = random_user_id(), random_user_id(), random_user_id()
    for user in (first, second):
        await store.store(user, [10])
    await store.store(second, [40])
    pubsub = redis.pubsub()
    await pubsub.subscribe(LIVE_CHANNEL)
    assert await store.push([first, away, second], [30]) == 2
    assert await store.push([first, second], [40, 50]) == 2  # second had 40 already
    await store.remove([first, second, away], [10])
    await store.remove([first, second], [40, 99])
    messages: list[tuple[LiveChange, list[int]]] = []
    async with asyncio.timeout(5):
        while len(messages) < 6:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message:
                messages.append(parse_live(message["data"]))
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert messages == [
        (LiveChange(added=[30]), [first, second]),
        (LiveChange(added=[50]), [second]),  # only what entered its timeline
        (LiveChange(added=[40, 50]), [first]),
        (LiveChange(removed=[10]), [first, second]),
        (LiveChange(removed=[40]), [first]),
        (LiveChange(removed=[40]), [second]),
    ]
    for user in (first, second):
        assert await store.read(user, None, 10) == ([50, 30], True)
    assert await redis.exists(home_key(away)) == 0
