"""The graph and tweets services as the timelines domain sees them (gRPC adapters)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import grpc
import structlog
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from chirp.tweets.v1 import tweets_service_pb2
from redis.exceptions import RedisError

from services.platform.caches.tweet_cache import ReadyTweets
from services.platform.caches.user_timelines import KEPT_IDS, RedisKeptTimelines
from services.platform.resp import RespClient

FOLLOWING_PAGE = 5000

log = structlog.get_logger()


class GrpcGraph:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = graph_service_pb2_grpc.GraphServiceStub(channel)

    async def follower_count(self, user_id: int) -> int:
        response = await self._stub.BatchGetFollowCounts(
            graph_service_pb2.BatchGetFollowCountsRequest(user_ids=[user_id]),
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
            )
            found.extend(response.user_ids)
            token = response.next_page_token
            if not token:
                return found


class CachedTweets(ReadyTweets):
    """The tweets service, and the tweets service's caches themselves: of tweets, for
    hydration (``ReadyTweets``), and of user timelines' newest ids, for the celebrity merge."""

    def __init__(self, redis: RespClient, channel: grpc.aio.Channel) -> None:
        super().__init__(redis, channel)
        self._kept = RedisKeptTimelines(redis)

    async def newest_ids(self, author_ids: Sequence[int]) -> list[Sequence[int]]:
        try:
            kept, _ = await self._kept.get(author_ids)
        except RedisError:
            log.warning("user timeline cache read failed; asking tweets", exc_info=True)
            kept = {}
        missing = [a for a in author_ids if a not in kept]
        fetched = await asyncio.gather(*(self.recent_ids([a], KEPT_IDS) for a in missing))
        found: dict[int, Sequence[int]] = {a: k.ids for a, k in kept.items()}
        found.update(zip(missing, fetched, strict=True))
        return [found[a] for a in author_ids]

    async def recent_ids(self, author_ids: Sequence[int], max_results: int) -> list[int]:
        response = await self._stub.ListRecentTweetIds(
            tweets_service_pb2.ListRecentTweetIdsRequest(
                author_ids=list(author_ids), max_results=min(max_results, 800)
            ),
        )
        return list(response.tweet_ids)
