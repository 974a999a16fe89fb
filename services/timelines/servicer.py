"""``chirp.timelines.v1.TimelinesService`` over the domain: requests in, messages out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from chirp.timelines.v1 import timelines_service_pb2
from chirp.tweets.v1 import tweet_pb2

from services.platform import wire
from services.platform.auth import require_caller
from services.platform.caches.tweet_cache import ReadyTweet
from services.platform.paging import page_size
from services.timelines.service import TimelineService

Context = grpc.aio.ServicerContext[Any, Any]

#: A heartbeat (an empty message) after this long without news.
HEARTBEAT_SECONDS = 15.0


#: Answered with a serialized message assembled from the tweet cache's bytes, so the servicer
#: does not inherit the generated base class, whose types say messages.
SENT_AS_BYTES = frozenset({"ListHomeTimeline"})
#: ``tweets`` and ``next_page_token`` of ListHomeTimelineResponse.
TWEETS_FIELD, NEXT_PAGE_TOKEN_FIELD = 1, 2


class TimelinesServicer:
    def __init__(
        self, timelines: TimelineService, heartbeat_seconds: float = HEARTBEAT_SECONDS
    ) -> None:
        self._timelines = timelines
        self._heartbeat = heartbeat_seconds

    async def ListHomeTimeline(
        self, request: timelines_service_pb2.ListHomeTimelineRequest, _context: Context
    ) -> bytes:
        size = page_size(request.page_size)
        page = await self._timelines.page(require_caller().user_id, size, request.page_token)
        tweets = wire.repeated(TWEETS_FIELD, (tweet.data for tweet in page.items))
        return tweets + wire.text(NEXT_PAGE_TOKEN_FIELD, page.next_token)

    async def StreamHomeTimeline(
        self, request: timelines_service_pb2.StreamHomeTimelineRequest, _context: Context
    ) -> AsyncIterator[timelines_service_pb2.StreamHomeTimelineResponse]:
        # The first message goes at once, even empty: the gateway starts the HTTP response
        # only with it.
        changes = self._timelines.stream(
            require_caller().user_id, request.after_tweet_id, self._heartbeat
        )
        async for tweets, removed in changes:
            yield timelines_service_pb2.StreamHomeTimelineResponse(
                tweets=_messages(tweets), removed_tweet_ids=removed
            )


def _messages(tweets: list[ReadyTweet]) -> list[tweet_pb2.Tweet]:
    """A stream's few tweets, decoded (the stream is not a hot path)."""
    return [tweet_pb2.Tweet.FromString(tweet.data) for tweet in tweets]
