"""Shared pieces of the search tests: tweets as protobufs for the index tests, and tweets,
edits and searches through the gateway for the tests against the running service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from services.platform.ids import compose
from services.platform.settings import Settings
from tests.integration.tweets.tokens import bearer

SETTINGS = Settings(service="search")
JsonObject = dict[str, Any]

_sequence = 0


def tweet(
    text: str,
    *,
    author_id: int = 7,
    username: str = "ada",
    created_ms: int = 1_780_000_000_000,
    hashtags: Sequence[str] = (),
    mentions: Sequence[str] = (),
    urls: Sequence[str] = (),
    likes: int = 0,
    tweet_id: int = 0,
) -> tweet_pb2.Tweet:
    """A tweet as the tweets service sends it (entities given, not extracted)."""
    global _sequence  # noqa: PLW0603  (unique ids within a test run)
    _sequence += 1
    created = Timestamp()
    created.FromMilliseconds(created_ms)
    return tweet_pb2.Tweet(
        id=tweet_id or compose(created_ms, 1, _sequence % 4096),
        author=user_pb2.User(id=author_id, username=username),
        text=text,
        create_time=created,
        like_count=likes,
        entities=tweet_pb2.TweetEntities(
            hashtags=[tweet_pb2.HashtagEntity(tag=t) for t in hashtags],
            mentions=[tweet_pb2.MentionEntity(username=m) for m in mentions],
            urls=[tweet_pb2.UrlEntity(url=u) for u in urls],
        ),
    )


async def post(http: httpx.AsyncClient, author: int, text: str) -> int:
    response = await http.post("/v1/tweets", json={"text": text}, headers=bearer(author))
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


async def search(
    http: httpx.AsyncClient, q: str, order: str = "", size: int = 0, token: str = ""
) -> JsonObject:
    params: dict[str, str | int] = {"q": q}
    if order:
        params["order"] = order
    if size:
        params["pageSize"] = size
    if token:
        params["pageToken"] = token
    response = await http.get("/v1/search/tweets", params=params)
    assert response.status_code == 200, response.text
    body: JsonObject = response.json()
    return body


async def found(http: httpx.AsyncClient, q: str, order: str = "") -> list[int]:
    return [int(t["id"]) for t in (await search(http, q, order, size=100)).get("tweets", [])]
