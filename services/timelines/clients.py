"""The graph and tweets services as the timelines domain sees them (gRPC adapters)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from chirp.tweets.v1 import tweets_service_pb2

from services.bootstrap.tweet_cache import ReadyTweets

#: How long a unary call waits (streams of followers have no deadline).
TIMEOUT_SECONDS = 5.0
FOLLOWING_PAGE = 5000


class GrpcGraph:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = graph_service_pb2_grpc.GraphServiceStub(channel)

    async def follower_count(self, user_id: int) -> int:
        response = await self._stub.BatchGetFollowCounts(
            graph_service_pb2.BatchGetFollowCountsRequest(user_ids=[user_id]),
            timeout=TIMEOUT_SECONDS,
        )
        return sum(c.follower_count for c in response.counts if c.user_id == user_id)

    async def stream_followers(self, user_id: int, batch_size: int) -> AsyncIterator[list[int]]:
        request = graph_service_pb2.StreamFollowersRequest(user_id=user_id, batch_size=batch_size)
        async for response in self._stub.StreamFollowers(request):
            yield list(response.follower_ids)

    async def following_ids(self, user_id: int, min_follower_count: int) -> list[int]:
        found: list[int] = []
        token = ""
        while True:
            response = await self._stub.ListFollowingIds(
                graph_service_pb2.ListFollowingIdsRequest(
                    user_id=user_id,
                    min_follower_count=min_follower_count,
                    page_size=FOLLOWING_PAGE,
                    page_token=token,
                ),
                timeout=TIMEOUT_SECONDS,
            )
            found.extend(response.user_ids)
            token = response.next_page_token
            if not token:
                return found


class CachedTweets(ReadyTweets):
    """The tweets service, and the tweet cache itself for hydration (``ReadyTweets``)."""

    async def recent_ids(self, author_ids: Sequence[int], max_results: int) -> list[int]:
        response = await self._stub.ListRecentTweetIds(
            tweets_service_pb2.ListRecentTweetIdsRequest(
                author_ids=list(author_ids), max_results=min(max_results, 800)
            ),
            timeout=TIMEOUT_SECONDS,
        )
        return list(response.tweet_ids)
