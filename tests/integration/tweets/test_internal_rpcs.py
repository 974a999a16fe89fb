"""The internal RPCs (gRPC only, no HTTP route) and the tweet cache other services read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc
import httpx
import pytest
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2, tweets_service_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from redis.asyncio import Redis

from services.platform.caches.tweet_cache import tweet_key
from tests.integration.tweets.tokens import bearer, mint, random_user_id
from tests.stack import GATEWAY

TWEETS = "127.0.0.1:50052"


@pytest.fixture(scope="module")
def stub() -> Iterator[tweets_service_pb2_grpc.TweetsServiceStub]:
    with grpc.insecure_channel(TWEETS) as channel:
        yield tweets_service_pb2_grpc.TweetsServiceStub(channel)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=GATEWAY, timeout=15) as client:
        yield client


def _post(http: httpx.Client, author: int, text: str) -> int:
    response = http.post("/v1/tweets", json={"text": text}, headers=bearer(author))
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def test_tweet_counts_include_retweets_and_drop_deletes(
    http: httpx.Client, stub: tweets_service_pb2_grpc.TweetsServiceStub
) -> None:
    author, other = random_user_id(), random_user_id()
    first = _post(http, author, "one")
    _post(http, author, "two")
    theirs = _post(http, other, "theirs")
    http.post(f"/v1/tweets/{theirs}:retweet", json={}, headers=bearer(author))
    http.delete(f"/v1/tweets/{first}", headers=bearer(author))
    unknown = random_user_id()
    response = stub.BatchGetUserTweetCounts(
        tweets_service_pb2.BatchGetUserTweetCountsRequest(user_ids=[author, unknown, other, author])
    )
    assert [(c.user_id, c.tweet_count) for c in response.counts] == [
        (author, 2),
        (unknown, 0),
        (other, 1),
        (author, 2),
    ]


def test_engagements_name_the_callers_own_likes_and_retweets(
    http: httpx.Client, stub: tweets_service_pb2_grpc.TweetsServiceStub
) -> None:
    author, reader = random_user_id(), random_user_id()
    liked, retweeted, neither = (_post(http, author, text) for text in ("a", "b", "c"))
    http.post(f"/v1/tweets/{liked}:like", json={}, headers=bearer(reader))
    http.post(f"/v1/tweets/{retweeted}:retweet", json={}, headers=bearer(reader))
    http.post(f"/v1/tweets/{retweeted}:like", json={}, headers=bearer(reader))
    asked = tweets_service_pb2.BatchGetEngagementsRequest(
        tweet_ids=[neither, retweeted, liked, retweeted]
    )
    metadata = (("authorization", f"Bearer {mint(reader)}"),)
    found = stub.BatchGetEngagements(asked, metadata=metadata)
    assert list(found.liked_tweet_ids) == [retweeted, liked, retweeted]
    assert list(found.retweeted_tweet_ids) == [retweeted, retweeted]
    http.post(f"/v1/tweets/{liked}:unlike", json={}, headers=bearer(reader))
    assert list(stub.BatchGetEngagements(asked, metadata=metadata).liked_tweet_ids) == [
        retweeted,
        retweeted,
    ]
    with pytest.raises(grpc.RpcError) as anonymous:
        stub.BatchGetEngagements(asked)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_recent_tweet_ids_merge_authors_newest_first(
    http: httpx.Client, stub: tweets_service_pb2_grpc.TweetsServiceStub
) -> None:
    ada, bob = random_user_id(), random_user_id()
    ids = [_post(http, ada, "a1"), _post(http, bob, "b1"), _post(http, ada, "a2")]
    retweet = http.post(f"/v1/tweets/{ids[1]}:retweet", json={}, headers=bearer(ada)).json()
    expected = [int(retweet["id"]), *ids[::-1]]
    response = stub.ListRecentTweetIds(
        tweets_service_pb2.ListRecentTweetIdsRequest(author_ids=[ada, bob, random_user_id()])
    )
    assert list(response.tweet_ids) == expected
    capped = stub.ListRecentTweetIds(
        tweets_service_pb2.ListRecentTweetIdsRequest(author_ids=[ada, bob], max_results=2)
    )
    assert list(capped.tweet_ids) == expected[:2]
    since = Timestamp()
    since.FromDatetime(datetime.now(UTC))
    later = stub.ListRecentTweetIds(
        tweets_service_pb2.ListRecentTweetIdsRequest(author_ids=[ada, bob], since_time=since)
    )
    assert list(later.tweet_ids) == []
    with pytest.raises(grpc.RpcError) as refused:
        stub.ListRecentTweetIds(
            tweets_service_pb2.ListRecentTweetIdsRequest(author_ids=list(range(1, 5002)))
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_stream_tweets_yields_every_live_tweet_but_no_retweets(
    http: httpx.Client, stub: tweets_service_pb2_grpc.TweetsServiceStub
) -> None:
    author = random_user_id()
    kept, gone = _post(http, author, "streamed"), _post(http, author, "deleted")
    http.delete(f"/v1/tweets/{gone}", headers=bearer(author))
    retweet = int(
        http.post(f"/v1/tweets/{kept}:retweet", json={}, headers=bearer(author)).json()["id"]
    )
    seen: dict[int, tweet_pb2.Tweet] = {}
    for batch in stub.StreamTweets(tweets_service_pb2.StreamTweetsRequest(batch_size=1000)):
        assert len(batch.tweets) <= 1000
        seen.update((tweet.id, tweet) for tweet in batch.tweets)
    assert seen[kept].text == "streamed"
    assert seen[kept].retweet_count == 1
    assert gone not in seen
    assert retweet not in seen


async def test_the_cache_holds_what_readers_of_other_services_rely_on(redis: Redis) -> None:
    author = random_user_id()
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=15) as client:
        posted = await client.post("/v1/tweets", json={"text": "cache me"}, headers=bearer(author))
        tweet_id = int(posted.json()["id"])
        await client.get(f"/v1/tweets/{tweet_id}")  # an author unknown to users: filled on read
        cached = await redis.get(tweet_key(tweet_id))
        assert cached is None  # authors shown by id alone are not cached for everyone
        await client.delete(f"/v1/tweets/{tweet_id}", headers=bearer(author))
        assert await redis.get(tweet_key(tweet_id)) == b""  # a tombstone


async def test_a_registered_authors_tweet_is_cached_as_its_message(redis: Redis) -> None:
    username = "cache" + uuid.uuid4().hex[:10]
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=15) as client:
        created = await client.post(
            "/v1/users", json={"username": username, "password": "correct horse"}
        )
        assert created.status_code == 200, created.text
        session = await client.post(
            "/v1/sessions", json={"username": username, "password": "correct horse"}
        )
        headers = {"Authorization": f"Bearer {session.json()['accessToken']}"}
        posted = await client.post("/v1/tweets", json={"text": "cached"}, headers=headers)
        tweet_id = int(posted.json()["id"])
        value = await redis.get(tweet_key(tweet_id))
        assert isinstance(value, bytes)
        cached = tweet_pb2.Tweet.FromString(value)
        assert (cached.id, cached.text, cached.author.username) == (tweet_id, "cached", username)
        await client.post(f"/v1/tweets/{tweet_id}:like", json={}, headers=bearer(random_user_id()))
        # Counts changed: the entry is dropped (a read that raced the like may not put the
        # old counts back: its lease is void).
        kept = await redis.get(tweet_key(tweet_id))
        if kept is not None:
            assert isinstance(kept, bytes)
            assert tweet_pb2.Tweet.FromString(kept).like_count == 1
        shown = (await client.get(f"/v1/tweets/{tweet_id}")).json()
        value = await redis.get(tweet_key(tweet_id))
        assert isinstance(value, bytes)
        assert tweet_pb2.Tweet.FromString(value).like_count == int(shown["likeCount"]) == 1
