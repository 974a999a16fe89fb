"""``Tweets`` (timelines'): the in-memory fake and the tweets service (its caches first, then
gRPC) keep the same promises."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from chirp.tweets.v1 import tweet_pb2

from services.platform.caches.tweet_cache import ReadyTweet
from services.timelines.adapters.clients import CachedTweets
from services.timelines.ports import Tweets
from tests.contracts.implementations import implementations, integration, unit
from tests.contracts.world import Channels, Tweeting
from tests.integration.tweets.tokens import random_user_id
from tests.unit.timelines.fakes import MemoryTweets


@dataclass
class MemoryTweeting:
    """Posts as the fake holds them, with ids that grow as Snowflake ids do."""

    tweets: MemoryTweets
    last_id: int = 1000

    async def author(self) -> int:
        return random_user_id()

    async def post(self, author_id: int, retweet_of: int = 0) -> int:
        self.last_id += 1
        return self.tweets.post(self.last_id, author_id, retweet_of)

    async def retweet(self, user_id: int, tweet_id: int) -> int:
        return await self.post(user_id, tweet_id)

    async def delete(self, author_id: int, tweet_id: int) -> None:
        assert self.tweets.tweets[tweet_id].author.id == author_id
        self.tweets.deleted.add(tweet_id)


@dataclass(frozen=True)
class Posted:
    tweets: Tweets
    tweeting: Tweeting


def _memory(_: pytest.FixtureRequest) -> Posted:
    tweets = MemoryTweets()
    return Posted(tweets, MemoryTweeting(tweets))


def _grpc(request: pytest.FixtureRequest) -> Posted:
    channels: Channels = request.getfixturevalue("channels")
    tweets = CachedTweets(request.getfixturevalue("resp"), channels.tweets)
    return Posted(tweets, request.getfixturevalue("live_tweets"))


posted = implementations(memory=unit(_memory), grpc=integration(_grpc))


def _message(ready: ReadyTweet) -> tweet_pb2.Tweet:
    return tweet_pb2.Tweet.FromString(ready.data)


async def test_ids_are_newest_first_across_authors_and_leave_deletes_out(posted: Posted) -> None:
    tweets, tweeting, nobody = posted.tweets, posted.tweeting, random_user_id()
    ada, bob = await tweeting.author(), await tweeting.author()
    first = await tweeting.post(ada)
    theirs = await tweeting.post(bob)
    second = await tweeting.post(ada)
    retweet = await tweeting.retweet(ada, theirs)
    assert await tweets.recent_ids([ada, bob], 10) == [retweet, second, theirs, first]
    assert await tweets.recent_ids([ada, bob], 2) == [retweet, second]
    newest = await tweets.newest_ids([bob, ada, nobody])
    assert [list(ids) for ids in newest] == [[theirs], [retweet, second, first], []]
    await tweeting.delete(ada, second)
    assert await tweets.recent_ids([ada], 10) == [retweet, first]
    assert [list(ids) for ids in await tweets.newest_ids([ada])] == [[retweet, first]]


async def test_ready_tweets_come_in_request_order_with_their_originals(posted: Posted) -> None:
    tweets, tweeting = posted.tweets, posted.tweeting
    ada, bob = await tweeting.author(), await tweeting.author()
    original = await tweeting.post(ada)
    retweet = await tweeting.retweet(bob, original)
    other = await tweeting.post(bob)
    ready = await tweets.ready([other, retweet, random_user_id(), original, other])
    assert [(r.id, r.original_id) for r in ready] == [
        (other, other),
        (retweet, original),
        (original, original),
    ]
    shown = [_message(r) for r in ready]
    assert [message.author.id for message in shown] == [bob, bob, ada]
    assert shown[1].retweet_of.id == original
    assert shown[1].retweet_of.text == shown[2].text != ""
    await tweeting.delete(ada, original)
    assert [r.id for r in await tweets.ready([retweet, original, other])] == [other]
