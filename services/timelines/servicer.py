"""``chirp.timelines.v1.TimelinesService`` over the domain: requests in, messages out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from chirp.timelines.v1 import timelines_service_pb2
from chirp.tweets.v1 import tweet_pb2
from redis.asyncio import Redis

from services.platform import wire
from services.platform.auth import require_caller
from services.platform.background import rounds
from services.platform.caches.tweet_cache import ReadyTweet
from services.platform.errors import InvalidArgument
from services.platform.paging import page_size
from services.timelines.adapters.store import live_channel, parse_live
from services.timelines.paging import decode_token, encode_token
from services.timelines.service import TimelineService

Context = grpc.aio.ServicerContext[Any, Any]

#: At most this many tweets are sent from before the stream started.
CATCH_UP = 100
#: A heartbeat (an empty message) after this long without news.
HEARTBEAT_SECONDS = 15.0


#: Answered with a serialized message assembled from the tweet cache's bytes, so the servicer
#: does not inherit the generated base class, whose types say messages.
SENT_AS_BYTES = frozenset({"ListHomeTimeline"})
#: ``tweets`` and ``next_page_token`` of ListHomeTimelineResponse.
TWEETS_FIELD, NEXT_PAGE_TOKEN_FIELD = 1, 2


class TimelinesServicer:
    def __init__(
        self, timelines: TimelineService, redis: Redis, heartbeat_seconds: float = HEARTBEAT_SECONDS
    ) -> None:
        self._timelines = timelines
        self._redis = redis
        self._heartbeat = heartbeat_seconds

    async def ListHomeTimeline(
        self, request: timelines_service_pb2.ListHomeTimelineRequest, _context: Context
    ) -> bytes:
        caller = require_caller()
        size = page_size(request.page_size)
        page = await self._timelines.page(caller.user_id, size, decode_token(request.page_token))
        token = "" if page.next_before is None else encode_token(page.next_before)
        tweets = wire.repeated(TWEETS_FIELD, (tweet.data for tweet in page.tweets))
        return tweets + wire.text(NEXT_PAGE_TOKEN_FIELD, token)

    async def StreamHomeTimeline(
        self, request: timelines_service_pb2.StreamHomeTimelineRequest, _context: Context
    ) -> AsyncIterator[timelines_service_pb2.StreamHomeTimelineResponse]:
        caller = require_caller()
        if request.after_tweet_id < 0:
            raise InvalidArgument.field("after_tweet_id", "must not be negative")
        pubsub = self._redis.pubsub()
        try:
            # Subscribed before the catch-up is read, so nothing falls in between.
            await pubsub.subscribe(live_channel(caller.user_id))
            sent: set[int] = set()
            tweets = []
            if request.after_tweet_id > 0:
                tweets = await self._timelines.newer(
                    caller.user_id, request.after_tweet_id, CATCH_UP
                )
                sent.update(t.id for t in tweets)
            # Sent at once, even empty (a heartbeat): the gateway starts the HTTP response
            # only with the first message.
            yield timelines_service_pb2.StreamHomeTimelineResponse(tweets=_messages(tweets))
            quiet_since = time.monotonic()
            for _ in rounds():
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self._heartbeat
                )
                if message is None:
                    if time.monotonic() - quiet_since >= self._heartbeat:
                        quiet_since = time.monotonic()
                        yield timelines_service_pb2.StreamHomeTimelineResponse()
                    continue
                added, removed = parse_live(message["data"])
                fresh = sorted((i for i in added if i not in sent), reverse=True)
                tweets = await self._timelines.hydrate(fresh) if fresh else []
                sent.update(t.id for t in tweets)
                if tweets or removed:
                    quiet_since = time.monotonic()
                    yield timelines_service_pb2.StreamHomeTimelineResponse(
                        tweets=_messages(tweets), removed_tweet_ids=removed
                    )
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]


def _messages(tweets: list[ReadyTweet]) -> list[tweet_pb2.Tweet]:
    """A stream's few tweets, decoded (the stream is not a hot path)."""
    return [tweet_pb2.Tweet.FromString(tweet.data) for tweet in tweets]
