"""The running timelines service over gRPC: the live stream, and the fanout handlers' idempotence
against the real Redis, graph and tweets services."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, cast

import grpc
import httpx
import pytest
from chirp.events.v1 import tweet_events_pb2
from chirp.timelines.v1 import timelines_service_pb2, timelines_service_pb2_grpc
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2
from redis.asyncio import Redis

from services.platform.resp import RespClient
from services.timelines.adapters.clients import CachedTweets, GrpcGraph
from services.timelines.adapters.live import RedisLiveUpdates
from services.timelines.adapters.store import RedisTimelineStore
from services.timelines.consumers.fanout import FanoutWorker
from services.timelines.service import TimelineService
from tests.integration.timelines.support import (
    SETTINGS,
    THRESHOLD,
    anonymous,
    delete,
    eventually,
    follow,
    home_ids,
    post,
    register,
    stored,
)

Messages = AsyncIterator[timelines_service_pb2.StreamHomeTimelineResponse]


def _open(
    stub: timelines_service_pb2_grpc.TimelinesServiceStub,
    after_tweet_id: int = 0,
    metadata: tuple[tuple[str, str], ...] = (),
) -> Messages:
    """The aio call of StreamHomeTimeline, as an async iterator (the stubs are typed sync)."""
    request = timelines_service_pb2.StreamHomeTimelineRequest(after_tweet_id=after_tweet_id)
    call: Any = stub.StreamHomeTimeline(request, metadata=metadata)
    return cast("Messages", call.__aiter__())


@pytest.fixture
async def stub() -> AsyncIterator[timelines_service_pb2_grpc.TimelinesServiceStub]:
    async with grpc.aio.insecure_channel(SETTINGS.timelines_addr) as channel:
        yield timelines_service_pb2_grpc.TimelinesServiceStub(channel)


async def _next(messages: Messages) -> timelines_service_pb2.StreamHomeTimelineResponse:
    async with asyncio.timeout(5):
        while True:
            message = await anext(messages)
            if message.tweets or message.removed_tweet_ids:  # heartbeats skipped
                return message


async def test_the_stream_needs_a_caller(
    stub: timelines_service_pb2_grpc.TimelinesServiceStub,
) -> None:
    messages = _open(stub)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await anext(messages)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_stream_catches_up_then_pushes_new_and_removed_tweets(
    http: httpx.AsyncClient, stub: timelines_service_pb2_grpc.TimelinesServiceStub
) -> None:
    author = await register(http, "tl")
    reader = anonymous()
    await follow(http, reader, author.username)
    seen = await post(http, author, "already seen")
    missed = await post(http, author, "missed between page and stream")
    await eventually(lambda: home_ids(http, reader), lambda ids: ids == [missed, seen])
    metadata = (("authorization", reader.headers["Authorization"]),)
    call = _open(stub, seen, metadata)
    first = await _next(call)
    assert [t.id for t in first.tweets] == [missed]
    await asyncio.sleep(0.2)  # the stream is subscribed before it catches up; be sure anyway
    loop = asyncio.get_running_loop()
    started = loop.time()
    live = await post(http, author, "live")
    pushed = await _next(call)
    assert [t.id for t in pushed.tweets] == [live]
    assert pushed.tweets[0].author.username == author.username
    assert loop.time() - started < 1.0
    await delete(http, author, live)
    removed = await _next(call)
    assert list(removed.removed_tweet_ids) == [live]


async def test_the_stream_through_envoy_is_a_growing_json_array(http: httpx.AsyncClient) -> None:
    author = await register(http, "tm")
    reader = anonymous()
    await follow(http, reader, author.username)
    await home_ids(http, reader)
    received = ""
    loop = asyncio.get_running_loop()
    async with http.stream("GET", "/v1/timelines/home:stream", headers=reader.headers) as response:
        assert response.status_code == 200  # at once: the stream starts with a heartbeat
        chunks = response.aiter_text()
        async with asyncio.timeout(5):
            received += await anext(chunks)
            assert json.loads(received + "]") == [{"tweets": [], "removedTweetIds": []}]
            started = loop.time()
            tweet_id = await post(http, author, "to the browser")
            async for chunk in chunks:
                received += chunk
                if received.endswith("}"):
                    messages = json.loads(received + "]")
                    if any(m["tweets"] for m in messages):
                        break
    assert loop.time() - started < 1.0
    assert [t["id"] for m in messages for t in m["tweets"]] == [str(tweet_id)]


async def test_fanout_handlers_are_idempotent(
    http: httpx.AsyncClient, resp: RespClient, redis: Redis
) -> None:
    """A redelivered event (here: applied twice, by a second worker) changes nothing."""
    author = await register(http, "tn")
    readers = [anonymous() for _ in range(THRESHOLD)]
    for reader in readers:
        await follow(http, reader, author.username)
        await home_ids(http, reader)
    tweet_id = await post(http, author, "once")
    for reader in readers:
        await eventually(partial(stored, redis, reader.id), lambda ids: ids == [tweet_id])
    graph = grpc.aio.insecure_channel(SETTINGS.graph_addr)
    tweets = grpc.aio.insecure_channel(SETTINGS.tweets_addr)
    store = RedisTimelineStore(resp, length=800, active_seconds=3600)
    service = TimelineService(
        store,
        GrpcGraph(graph),
        CachedTweets(resp, tweets),
        RedisLiveUpdates(redis),
        celebrity_threshold=THRESHOLD,
        length=800,
    )
    worker = FanoutWorker(SETTINGS.nats_url, service)
    event = tweet_events_pb2.TweetCreatedEvent(
        event_id="again",
        tweet=tweet_pb2.Tweet(id=tweet_id, author=user_pb2.User(id=author.id)),
    )
    for _ in range(2):
        await worker.apply(event)
    for reader in readers:
        assert await stored(redis, reader.id) == [tweet_id]
        assert await home_ids(http, reader) == [tweet_id]
    await graph.close()
    await tweets.close()


async def test_fanout_metrics_are_exported(http: httpx.AsyncClient) -> None:
    metrics_url = f"http://127.0.0.1:{SETTINGS.bound_metrics_port}/metrics"

    async def lag_count() -> float:
        text = (await http.get(metrics_url)).text
        (line,) = [
            line
            for line in text.splitlines()
            if line.startswith("chirp_timelines_fanout_lag_seconds_count")
        ]
        return float(line.split()[-1])

    before = await lag_count()
    await post(http, anonymous(), "measured")
    await eventually(lag_count, lambda count: count > before)
    text = (await http.get(metrics_url)).text
    assert "chirp_timelines_fanout_deliveries_total" in text
    assert 'chirp_events_backlog{consumer="timelines-fanout"}' in text  # sampled as it began
