"""Every tweets write publishes its chirp.events.v1 event to the stream CHIRP (via the outbox)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import httpx
from chirp.events.v1.tweet_events_pb2 import (
    TweetCreatedEvent,
    TweetDeletedEvent,
    TweetEditedEvent,
    TweetLikedEvent,
    TweetRetweetedEvent,
    TweetUnlikedEvent,
    TweetUnretweetedEvent,
)

from tests.integration.tweets.events import watching
from tests.integration.tweets.tokens import bearer, random_user_id


async def _ok(response: Awaitable[httpx.Response]) -> dict[str, Any]:
    result = await response
    assert result.status_code == 200, result.text
    body: dict[str, Any] = result.json()
    return body


async def test_every_write_publishes_its_event(http: httpx.AsyncClient) -> None:
    author, fan, other = random_user_id(), random_user_id(), random_user_id()
    async with watching() as received:
        posted = http.post("/v1/tweets", json={"text": "#events"}, headers=bearer(author))
        tweet_id = int((await _ok(posted))["id"])
        (created,) = await received.wait_for(TweetCreatedEvent, lambda e: e.tweet.id == tweet_id)
        assert created.tweet.text == "#events"
        assert created.tweet.entities.hashtags[0].tag == "events"
        assert created.tweet.author.id == author
        assert created.event_id

        replied = http.post(
            "/v1/tweets", json={"text": "re", "replyToId": str(tweet_id)}, headers=bearer(fan)
        )
        reply_id = int((await _ok(replied))["id"])
        (reply,) = await received.wait_for(TweetCreatedEvent, lambda e: e.tweet.id == reply_id)
        assert reply.tweet.reply_to_id == tweet_id

        path = f"/v1/tweets/{tweet_id}"
        await _ok(http.patch(path, json={"text": "new"}, headers=bearer(author)))
        (edited,) = await received.wait_for(TweetEditedEvent, lambda e: e.tweet.id == tweet_id)
        assert edited.tweet.text == "new"
        assert edited.tweet.HasField("edit_time")

        for _ in range(2):  # a repeated like publishes nothing more
            await _ok(http.post(f"{path}:like", json={}, headers=bearer(fan)))
        (liked,) = await received.wait_for(TweetLikedEvent, lambda e: e.tweet_id == tweet_id)
        assert (liked.user_id, liked.tweet_author_id, liked.like_count) == (fan, author, 1)

        await _ok(http.post(f"{path}:unlike", json={}, headers=bearer(fan)))
        (unliked,) = await received.wait_for(TweetUnlikedEvent, lambda e: e.tweet_id == tweet_id)
        assert (unliked.user_id, unliked.like_count) == (fan, 0)

        retweet = await _ok(http.post(f"{path}:retweet", json={}, headers=bearer(fan)))
        retweet_id = int(retweet["id"])
        (retweeted,) = await received.wait_for(
            TweetRetweetedEvent, lambda e: e.retweet_id == retweet_id
        )
        assert (retweeted.tweet_id, retweeted.user_id, retweeted.retweet_count) == (
            tweet_id,
            fan,
            1,
        )
        await _ok(http.post(f"{path}:unretweet", json={}, headers=bearer(fan)))
        (unretweeted,) = await received.wait_for(
            TweetUnretweetedEvent, lambda e: e.retweet_id == retweet_id
        )
        assert (unretweeted.tweet_id, unretweeted.user_id) == (tweet_id, fan)

        # Deleting the tweet publishes tweets.deleted, and its remaining retweet is undone.
        second = await _ok(http.post(f"{path}:retweet", json={}, headers=bearer(other)))
        second_id = int(second["id"])
        await received.wait_for(TweetRetweetedEvent, lambda e: e.retweet_id == second_id)
        assert (await http.delete(path, headers=bearer(author))).status_code == 200
        (deleted,) = await received.wait_for(TweetDeletedEvent, lambda e: e.tweet_id == tweet_id)
        assert (deleted.author_id, deleted.reply_to_id) == (author, 0)
        (undone,) = await received.wait_for(
            TweetUnretweetedEvent, lambda e: e.retweet_id == second_id
        )
        assert undone.user_id == other
        assert len(received.matching(TweetLikedEvent, lambda e: e.tweet_id == tweet_id)) == 1
