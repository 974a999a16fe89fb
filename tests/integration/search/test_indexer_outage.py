"""While the tweets service does not answer, the indexer's batch is redelivered later, again and
again (the platform's policy: ``services/platform/consumers.py``): once tweets answers again the
tweet is indexed. And likes wait for their window, to refresh their tweet once, as follows do to
refresh their followee once. In process: the real Indexer on a test consumer, a temporary index,
and the real services behind adapters that fail their first calls with UNAVAILABLE (the outage)
or count them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import httpx
import pytest
from chirp.tweets.v1 import tweet_pb2
from nats.js.api import DeliverPolicy

from services.platform.background import in_background
from services.platform.consumers import connect
from services.platform.events import STREAM, durable
from services.platform.resp import RespClient
from services.search.adapters.clients import GrpcGraph, GrpcTweets, GrpcUsers
from services.search.adapters.index import TantivyTweetIndex, TantivyUserIndex
from services.search.consumers.indexer import Indexer
from services.search.query import parse
from services.search.service import SearchService
from tests.cancellation import stops_every_time
from tests.integration.graph.support import Account, register
from tests.integration.search.indexer_process import killable_consumer
from tests.integration.search.support import SETTINGS, post
from tests.integration.streams import temporary_consumer
from tests.integration.tweets.tokens import bearer, random_user_id
from tests.polling import eventually
from tests.stack import GATEWAY


class Outage(GrpcTweets):
    """The tweets service, unreachable for its first ``failures`` calls."""

    def __init__(self, redis: RespClient, channel: grpc.aio.Channel, failures: int) -> None:
        super().__init__(redis, channel)
        self.failures = failures

    async def batch_get(self, ids: Sequence[int]) -> list[tweet_pb2.Tweet]:
        if self.failures > 0:
            self.failures -= 1
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down"
            )
        return await super().batch_get(ids)


class CountingGraph(GrpcGraph):
    """The graph service, noting the ids whose follower counts were asked for."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        super().__init__(channel)
        self.asked: list[int] = []

    async def follower_counts(self, ids: Sequence[int]) -> dict[int, int]:
        self.asked += ids
        return await super().follower_counts(ids)


class Counting(GrpcTweets):
    """The tweets service, noting the ids asked for."""

    def __init__(self, redis: RespClient, channel: grpc.aio.Channel) -> None:
        super().__init__(redis, channel)
        self.asked: list[int] = []

    async def batch_get(self, ids: Sequence[int]) -> list[tweet_pb2.Tweet]:
        self.asked += ids
        return await super().batch_get(ids)


@pytest.fixture
async def consumer() -> AsyncIterator[str]:
    name = f"test-outage-{uuid.uuid4().hex[:10]}"
    connection = await connect(SETTINGS.nats_url)
    jetstream = connection.jetstream()
    await jetstream.add_consumer(STREAM.name or "", killable_consumer(name))
    yield name
    await jetstream.delete_consumer(STREAM.name or "", name)
    await connection.close()


@pytest.fixture
async def channels() -> AsyncIterator[list[grpc.aio.Channel]]:
    """Channels to the tweets, users and graph services, in that order."""
    opened = [
        grpc.aio.insecure_channel(address)
        for address in (SETTINGS.tweets_addr, SETTINGS.users_addr, SETTINGS.graph_addr)
    ]
    yield opened
    for channel in opened:
        await channel.close()


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[TantivyTweetIndex]:
    index = TantivyTweetIndex(tmp_path)
    yield index
    await index.store.close()


def _search(
    root: Path, index: TantivyTweetIndex, tweets: GrpcTweets, channels: list[grpc.aio.Channel]
) -> SearchService:
    return SearchService(
        index, TantivyUserIndex(root), tweets, GrpcUsers(channels[1]), GrpcGraph(channels[2])
    )


async def test_an_outage_of_tweets_delays_indexing_and_loses_nothing(
    tmp_path: Path,
    consumer: str,
    channels: list[grpc.aio.Channel],
    index: TantivyTweetIndex,
    resp: RespClient,
) -> None:
    tweets = Outage(resp, channels[0], failures=3)
    search = _search(tmp_path, index, tweets, channels)
    # The consumer's ack wait is 3 s: the outage (redelivered after 1 s, 2 s, 4 s) outlasts it.
    indexer = Indexer(
        SETTINGS.nats_url, search, commit_seconds=0.5, config=killable_consumer(consumer)
    )
    word = f"outage{uuid.uuid4().hex[:8]}"
    async with in_background(indexer.run):
        await asyncio.sleep(0.5)  # bound to the consumer
        async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:
            tweet_id = await post(http, random_user_id(), f"{word} during an outage")
        found = await eventually(lambda: index.latest(parse(word), None, 10), bool, 60)
    assert found == [tweet_id]
    assert tweets.failures == 0


async def test_the_indexer_stops_when_cancelled_as_it_indexes_and_commits(
    tmp_path: Path,
    consumer: str,
    channels: list[grpc.aio.Channel],
    index: TantivyTweetIndex,
    resp: RespClient,
) -> None:
    """Cancelled at moments spread over a post's way through it: fetch, apply, commit."""
    search = _search(tmp_path, index, GrpcTweets(resp, channels[0]), channels)
    indexer = Indexer(
        SETTINGS.nats_url, search, commit_seconds=0.05, config=killable_consumer(consumer)
    )
    delays = itertools.cycle([0.0, 0.01, 0.03, 0.06, 0.1])
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:

        async def posted() -> None:
            await post(http, random_user_id(), f"cancel{uuid.uuid4().hex[:8]}")
            await asyncio.sleep(next(delays))

        await stops_every_time(indexer.run, posted, rounds=15)


@contextlib.asynccontextmanager
async def windowed(search: SearchService, *subjects: str) -> AsyncIterator[httpx.AsyncClient]:
    """An indexer on a new test consumer of ``subjects`` (events from now on), its window for
    held events 3 s, running; and a client of the gateway."""
    name = f"test-window-{uuid.uuid4().hex[:10]}"
    config = durable(name, "a test's", list(subjects)).evolve(deliver_policy=DeliverPolicy.NEW)
    indexer = Indexer(
        SETTINGS.nats_url, search, commit_seconds=0.05, engagement_seconds=3, config=config
    )
    async with (
        temporary_consumer(config),
        in_background(indexer.run),
        httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http,
    ):
        await asyncio.sleep(0.5)  # bound to the consumer
        yield http


async def test_likes_within_one_window_refresh_their_tweet_once(
    tmp_path: Path, channels: list[grpc.aio.Channel], index: TantivyTweetIndex, resp: RespClient
) -> None:
    tweets = Counting(resp, channels[0])
    search = _search(tmp_path, index, tweets, channels)
    word = f"engaged{uuid.uuid4().hex[:8]}"
    async with windowed(search, "tweets.created", "tweets.liked") as http:
        tweet_id = await post(http, random_user_id(), f"{word} to be liked")
        await eventually(lambda: index.latest(parse(word), None, 10), bool, 30)
        liked = await asyncio.gather(
            *(
                http.post(f"/v1/tweets/{tweet_id}:like", json={}, headers=bearer(random_user_id()))
                for _ in range(5)
            )
        )
        assert [response.status_code for response in liked] == [200] * 5
        await asyncio.sleep(1)
        assert tweets.asked == [tweet_id]  # the likes wait for their window
        likes = await eventually(
            lambda: index.candidates(parse(word)), lambda found: found[0].likes == 5, 30
        )
    assert [candidate.tweet_id for candidate in likes] == [tweet_id]
    assert tweets.asked == [tweet_id, tweet_id]  # once created, once for the five likes


async def test_follows_within_one_window_refresh_their_followee_once(
    tmp_path: Path, channels: list[grpc.aio.Channel], index: TantivyTweetIndex, resp: RespClient
) -> None:
    graph = CountingGraph(channels[2])
    users = TantivyUserIndex(tmp_path)
    tweets = GrpcTweets(resp, channels[0])
    search = SearchService(index, users, tweets, GrpcUsers(channels[1]), graph)
    stem = f"w{uuid.uuid4().hex[:8]}"
    async with windowed(search, "users.created", "graph.followed") as http:
        quiet = await register(http, username=f"{stem}a")
        followed = await register(http, username=f"{stem}b")
        await eventually(lambda: users.search([stem], 10), lambda ids: len(ids) == 2, 30)
        assert graph.asked.count(followed.id) == 1  # indexed once it was created

        async def asked(user_id: int) -> int:
            return graph.asked.count(user_id)

        async def follow(account: Account, fans: int) -> None:
            followers = await asyncio.gather(*(register(http, "fan") for _ in range(fans)))
            path = f"/v1/users/{account.username}:follow"
            follows = await asyncio.gather(
                *(http.post(path, json={}, headers=fan.headers) for fan in followers)
            )
            assert [response.status_code for response in follows] == [200] * fans

        await follow(quiet, 1)
        # Until the window ends both have no followers, and a tie may rank either first: the
        # order counts only once quiet's window has been applied (followed's follows then open
        # a window of their own, and followed can outrank quiet only once it ends).
        await eventually(lambda: asked(quiet.id), lambda n: n == 2, 30)
        await eventually(lambda: users.search([stem], 10), lambda ids: ids[0] == quiet.id, 30)
        await follow(followed, 3)
        await asyncio.sleep(1)
        assert graph.asked.count(followed.id) == 1  # the follows wait for their window
        ranked = await eventually(
            lambda: users.search([stem], 10), lambda ids: ids[0] == followed.id, 30
        )
    await users.store.close()
    assert ranked == [followed.id, quiet.id]
    assert graph.asked.count(followed.id) == 2  # once created, once for the three follows
