"""The hot reads answer with the tweet cache's bytes as they are: what they send must parse to
the very message the slow path builds from the store (views, then one message per tweet).
Through the real tweets service, Cassandra and Redis: each read twice, first with the entries
dropped from the cache (the store path, which fills the cache), then from the cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest
from chirp.tweets.v1 import tweets_service_pb2, tweets_service_pb2_grpc
from redis.asyncio import Redis

from services.platform.caches.tweet_cache import tweet_key
from services.platform.settings import Settings
from tests.integration.graph.support import Account, register

SETTINGS = Settings(service="tweets")

if TYPE_CHECKING:  # the async stub type exists only in the generated .pyi
    Stub = tweets_service_pb2_grpc.TweetsServiceAsyncStub


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(SETTINGS.tweets_addr) as channel:
        yield tweets_service_pb2_grpc.TweetsServiceStub(channel)


def _same(data: bytes) -> bytes:
    return data


async def _post(http: httpx.AsyncClient, author: Account, text: str, **extra: str) -> str:
    posted = await http.post("/v1/tweets", json={"text": text, **extra}, headers=author.headers)
    assert posted.status_code == 200, posted.text
    return str(posted.json()["id"])


async def test_cached_bytes_parse_to_the_message_the_store_path_builds(
    http: httpx.AsyncClient, redis: Redis, stub: Stub
) -> None:
    ada, bob = await register(http, "rb"), await register(http, "rb")
    first = await _post(http, ada, f"#bytes and @{bob.username} https://example.com/a")
    theirs = await _post(http, bob, "the original")
    retweeted = await http.post(f"/v1/tweets/{theirs}:retweet", json={}, headers=ada.headers)
    retweet = retweeted.json()["id"]
    reply = await _post(http, bob, "a reply", replyToId=first)
    await http.post(f"/v1/tweets/{first}:like", json={}, headers=bob.headers)
    ids = [int(i) for i in (reply, retweet, theirs, first)]

    async def read() -> tuple[object, ...]:
        async with grpc.aio.insecure_channel(SETTINGS.tweets_addr) as channel:
            raw = await channel.unary_unary(
                "/chirp.tweets.v1.TweetsService/BatchGetTweets", _same, _same
            )(tweets_service_pb2.BatchGetTweetsRequest(ids=ids).SerializeToString())
        return (
            raw,
            await stub.BatchGetTweets(tweets_service_pb2.BatchGetTweetsRequest(ids=ids)),
            await stub.GetTweet(tweets_service_pb2.GetTweetRequest(id=int(retweet))),
            await stub.ListUserTweets(
                tweets_service_pb2.ListUserTweetsRequest(username=ada.username, page_size=10)
            ),
            await stub.ListReplies(tweets_service_pb2.ListRepliesRequest(tweet_id=int(first))),
        )

    await redis.delete(*map(tweet_key, ids))
    from_store = await read()
    assert await redis.exists(*map(tweet_key, ids)) == len(ids)  # the store path filled it
    from_cache = await read()
    # Byte for byte: each tweet once and every field once, in protobuf's order (Envoy's
    # transcoder refuses a singular field given twice, which a parser would merge).
    assert from_cache == from_store
    batch = from_cache[1]
    assert isinstance(batch, tweets_service_pb2.BatchGetTweetsResponse)
    assert [t.id for t in batch.tweets] == ids
    shown = {t.id: t for t in batch.tweets}
    assert shown[int(retweet)].retweet_of.text == "the original"  # the original spliced in
    assert shown[int(retweet)].retweet_of.author.username == bob.username
    assert shown[int(first)].like_count == 1
    assert shown[int(first)].reply_count == 1
    assert [h.tag for h in shown[int(first)].entities.hashtags] == ["bytes"]
