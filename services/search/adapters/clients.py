"""The tweets, users and graph services as the search domain sees them (gRPC adapters)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc

from services.platform.caches.tweet_cache import ReadyTweets

#: The batch RPCs take at most this many ids.
BATCH = 100
STREAM_BATCH = 500


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)]


class GrpcTweets(ReadyTweets):
    """The tweets service, and the tweet cache itself for what a search shows
    (``ReadyTweets``)."""

    async def batch_get(self, ids: Sequence[int]) -> list[tweet_pb2.Tweet]:
        found: list[tweet_pb2.Tweet] = []
        for chunk in _chunks(ids):
            response = await self._stub.BatchGetTweets(
                tweets_service_pb2.BatchGetTweetsRequest(ids=chunk)
            )
            found.extend(response.tweets)
        return found

    async def stream(self) -> AsyncIterator[list[tweet_pb2.Tweet]]:
        request = tweets_service_pb2.StreamTweetsRequest(batch_size=STREAM_BATCH)
        async for response in self._stub.StreamTweets(request):
            yield list(response.tweets)


class GrpcUsers:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = users_service_pb2_grpc.UsersServiceStub(channel)

    async def batch_get(self, ids: Sequence[int]) -> list[user_pb2.User]:
        found: list[user_pb2.User] = []
        for chunk in _chunks(ids):
            response = await self._stub.BatchGetUsers(
                users_service_pb2.BatchGetUsersRequest(ids=chunk)
            )
            found.extend(response.users)
        return found

    async def stream(self) -> AsyncIterator[list[user_pb2.User]]:
        request = users_service_pb2.StreamUsersRequest(batch_size=STREAM_BATCH)
        async for response in self._stub.StreamUsers(request):
            yield list(response.users)


class GrpcGraph:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = graph_service_pb2_grpc.GraphServiceStub(channel)

    async def follower_counts(self, ids: Sequence[int]) -> dict[int, int]:
        counts: dict[int, int] = {}
        for chunk in _chunks(ids):
            response = await self._stub.BatchGetFollowCounts(
                graph_service_pb2.BatchGetFollowCountsRequest(user_ids=chunk),
            )
            counts.update((c.user_id, c.follower_count) for c in response.counts)
        return counts
