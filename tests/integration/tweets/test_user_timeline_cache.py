"""A user timeline's newest ids kept in Redis (``services/platform/caches/user_timelines.py``):
a post joins them in place, every write shows at the next read, deeper pages continue from the
store, and losing Redis loses nothing. Through the gateway, the real tweets service, Cassandra
and Redis, and the adapter against the real Redis."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from services.platform.caches.timeline_writes import timeline_writes
from services.platform.caches.user_timelines import (
    KEPT_IDS,
    TTL_SECONDS,
    KeptIds,
    RedisKeptTimelines,
    user_timeline_key,
)
from services.platform.resp import RespClient
from tests.integration.graph.support import Account, register
from tests.integration.tweets.tokens import random_user_id

BIG = 2**62  # ids above 2^53, which Lua numbers (doubles) could not tell apart


async def _post(http: httpx.AsyncClient, author: Account, text: str) -> str:
    posted = await http.post("/v1/tweets", json={"text": text}, headers=author.headers)
    assert posted.status_code == 200, posted.text
    return str(posted.json()["id"])


async def _pages(http: httpx.AsyncClient, author: Account, size: int) -> list[list[str]]:
    pages: list[list[str]] = []
    token = ""
    while True:
        response = await http.get(
            f"/v1/users/{author.username}/tweets", params={"pageSize": size, "pageToken": token}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([t["id"] for t in body["tweets"]])
        token = body.get("nextPageToken", "")
        if not token:
            return pages


async def test_every_write_shows_at_the_next_read_of_the_kept_ids(
    http: httpx.AsyncClient, resp: RespClient, redis: Redis
) -> None:
    ada, bob = await register(http, "ut"), await register(http, "ut")
    first = await _post(http, ada, "first")
    assert await _pages(http, ada, 20) == [[first]]
    assert await redis.exists(user_timeline_key(ada.id))  # kept by that read
    second = await _post(http, ada, "second")
    assert await _pages(http, ada, 20) == [[second, first]]
    theirs = await _post(http, bob, "theirs")
    retweeted = await http.post(f"/v1/tweets/{theirs}:retweet", json={}, headers=ada.headers)
    retweet = retweeted.json()["id"]
    assert await _pages(http, ada, 20) == [[retweet, second, first]]
    await http.delete(f"/v1/tweets/{second}", headers=ada.headers)
    assert await _pages(http, ada, 20) == [[retweet, first]]
    await http.post(f"/v1/tweets/{theirs}:unretweet", json={}, headers=ada.headers)
    assert await _pages(http, ada, 20) == [[first]]
    # A cache: losing it loses nothing (the count of writes included: the ids then kept are
    # read again from the store).
    await redis.delete(user_timeline_key(ada.id), timeline_writes(resp).key(ada.id))
    assert await _pages(http, ada, 20) == [[first]]


async def test_pages_go_on_from_the_kept_ids_into_the_store_without_repeats_or_gaps(
    http: httpx.AsyncClient,
) -> None:
    ada = await register(http, "uu")
    posted = [await _post(http, ada, f"tweet {i}") for i in range(130)]  # more than are kept
    newest_first = posted[::-1]
    for size in (7, 40):
        pages = await _pages(http, ada, size)
        assert [i for page in pages for i in page] == newest_first
        assert all(len(page) == size for page in pages[:-1])


async def test_a_post_joins_the_kept_ids_in_place_and_other_writes_leave_them_out_of_date(
    resp: RespClient, redis: Redis
) -> None:
    kept = RedisKeptTimelines(resp)
    user = random_user_id()
    assert await kept.get([user]) == ({}, {user: 0})
    await kept.keep(user, 0, KeptIds([BIG + 0x100, BIG + 0x7F], complete=True))
    await kept.wrote(user, BIG + 0x1FF)  # newer than all
    await kept.wrote(user, BIG + 0x80)  # an older post counted later lands in order
    await kept.wrote(user, BIG + 0x80)  # the same counted again (a retry): kept once
    found, counts = await kept.get([user])
    ids = [BIG + 0x1FF, BIG + 0x100, BIG + 0x80, BIG + 0x7F]
    assert found == {user: KeptIds(ids, complete=True)}
    assert counts == {user: 3}
    assert 0 < await redis.ttl(user_timeline_key(user)) <= TTL_SECONDS  # kept, not extended
    await kept.wrote(user, None)  # a delete: the kept ids are out of date...
    assert (await kept.get([user]))[0] == {}
    await kept.wrote(user, BIG + 0x200)  # ...and stay so until read again from the store
    assert (await kept.get([user]))[0] == {}


async def test_kept_ids_stay_at_most_the_kept_number_and_are_then_incomplete(
    resp: RespClient,
) -> None:
    kept = RedisKeptTimelines(resp)
    user = random_user_id()
    full = [BIG + i for i in range(KEPT_IDS, 0, -1)]
    await kept.keep(user, 0, KeptIds(full, complete=True))
    await kept.wrote(user, BIG + KEPT_IDS + 1)
    found, _ = await kept.get([user])
    assert found == {user: KeptIds([BIG + KEPT_IDS + 1, *full[:-1]], complete=False)}
