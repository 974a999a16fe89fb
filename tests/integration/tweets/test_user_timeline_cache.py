"""A user timeline's newest ids kept in Redis (``RedisUserTimelines``): every write shows at the
next read, deeper pages continue from the store, and losing Redis loses nothing. Through the
gateway, the real tweets service, Cassandra and Redis."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from services.bootstrap.timeline_writes import PREFIX as WRITES_PREFIX
from services.tweets.cache import user_timeline_key
from tests.integration.graph.support import Account, register


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
    http: httpx.AsyncClient, redis: Redis
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
    await redis.delete(user_timeline_key(ada.id), f"{WRITES_PREFIX}{ada.id}")
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
