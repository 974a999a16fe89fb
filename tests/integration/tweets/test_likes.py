"""Likes under concurrency, through Envoy against the real tweets service and Cassandra."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from cassandra.cluster import Session
from chirp.tweets.v1 import tweet_pb2

from services.platform.caches.tweet_cache import tweet_key
from services.platform.outbox import Outbox, new_event_id
from services.platform.resp import RespClient
from services.tweets.adapters.store import CassandraTweetStore
from tests.integration.tweets.tokens import bearer, random_user_id
from tests.stack import GATEWAY

FANS = 50


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=FANS * 2)
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30, limits=limits) as client:
        yield client


async def _tweet(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/v1/tweets", json={"text": "like me, all of you"}, headers=bearer(random_user_id())
    )
    assert response.status_code == 200, response.text
    tweet_id: str = response.json()["id"]
    return tweet_id


async def _all(http: httpx.AsyncClient, verb: str, tweet_id: str, fans: list[int]) -> None:
    responses = await asyncio.gather(
        *(http.post(f"/v1/tweets/{tweet_id}:{verb}", json={}, headers=bearer(f)) for f in fans)
    )
    assert [r.status_code for r in responses] == [200] * len(fans), responses[0].text


async def _like_count(http: httpx.AsyncClient, tweet_id: str) -> int:
    return int((await http.get(f"/v1/tweets/{tweet_id}")).json()["likeCount"])


async def test_50_concurrent_likes_by_50_users_count_50(http: httpx.AsyncClient) -> None:
    tweet_id = await _tweet(http)
    fans = [random_user_id() for _ in range(FANS)]
    await _all(http, "like", tweet_id, fans)
    assert await _like_count(http, tweet_id) == FANS

    # The same users again, each twice, all at once: nothing changes.
    await _all(http, "like", tweet_id, fans + fans)
    assert await _like_count(http, tweet_id) == FANS

    likers: list[str] = []
    token = ""
    while True:
        page = (
            await http.get(
                f"/v1/tweets/{tweet_id}/likes", params={"pageSize": 20, "pageToken": token}
            )
        ).json()
        assert len(page["users"]) <= 20
        likers += [user["id"] for user in page["users"]]
        token = page["nextPageToken"]
        if not token:
            break
    assert sorted(likers) == sorted(str(fan) for fan in fans)


async def test_a_liked_tweet_is_cached_again_with_its_exact_count(
    http: httpx.AsyncClient, resp: RespClient
) -> None:
    """Each like caches the tweet again once it is counted, so the next read (or like) of a
    tweet being liked finds it cached; of likes at once, the copy left has every like."""
    username = "liked" + uuid.uuid4().hex[:10]
    created = await http.post("/v1/users", json={"username": username, "password": "correct horse"})
    assert created.status_code == 200, created.text
    author = int(created.json()["id"])  # a real account: a tweet is cached with its author
    posted = await http.post("/v1/tweets", json={"text": "cache me"}, headers=bearer(author))
    assert posted.status_code == 200, posted.text
    tweet_id = posted.json()["id"]
    await _all(http, "like", tweet_id, [random_user_id() for _ in range(20)])
    cached = await resp.call("GET", tweet_key(int(tweet_id)))
    assert cached, "no like left the tweet cached"
    assert tweet_pb2.Tweet.FromString(cached).like_count == 20


async def test_a_like_cut_off_after_its_claim_is_finished_by_its_retry(
    http: httpx.AsyncClient, session: Session
) -> None:
    """A like whose process died once its claim was taken (no rows, no event) is written by
    the next like of the same person, and only once however many retries race."""
    tweet_id = await _tweet(http)
    fan = random_user_id()
    await CassandraTweetStore(session, Outbox(session)).claim(
        "like", int(tweet_id), fan, new_event_id()
    )
    await _all(http, "like", tweet_id, [fan, fan, fan])
    likers = (await http.get(f"/v1/tweets/{tweet_id}/likes", params={"pageSize": 10})).json()
    assert [user["id"] for user in likers["users"]] == [str(fan)]


async def test_concurrent_unlikes_count_down_exactly(http: httpx.AsyncClient) -> None:
    tweet_id = await _tweet(http)
    fans = [random_user_id() for _ in range(FANS)]
    await _all(http, "like", tweet_id, fans)
    await _all(http, "unlike", tweet_id, fans[:30] + fans[:30])
    assert await _like_count(http, tweet_id) == FANS - 30
    remaining = (await http.get(f"/v1/tweets/{tweet_id}/likes", params={"pageSize": 100})).json()
    assert sorted(u["id"] for u in remaining["users"]) == sorted(str(f) for f in fans[30:])


async def test_a_like_and_an_unlike_racing_leave_a_consistent_count(
    http: httpx.AsyncClient,
) -> None:
    tweet_id = await _tweet(http)
    fans = [random_user_id() for _ in range(20)]
    await asyncio.gather(
        *(
            http.post(f"/v1/tweets/{tweet_id}:{verb}", json={}, headers=bearer(fan))
            for fan in fans
            for verb in ("like", "unlike", "like")
        )
    )
    listed = (await http.get(f"/v1/tweets/{tweet_id}/likes", params={"pageSize": 100})).json()
    assert await _like_count(http, tweet_id) == len(listed["users"])
