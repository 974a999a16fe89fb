"""Profile counts and relationship flags from the services that own them: follower and
following counts and follow edges from graph, tweet counts from tweets.

A profile is still worth showing when one of them cannot answer: its counts and relationship
flags are then left out of the answer (the profile shows zeros and no flags), with a warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import grpc
import structlog
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from chirp.tweets.v1 import tweets_service_pb2, tweets_service_pb2_grpc

from services.users.model import Counts, Relationship

log = structlog.get_logger()
_R = TypeVar("_R")


class GrpcSocialCounts:
    def __init__(self, graph: grpc.aio.Channel, tweets: grpc.aio.Channel) -> None:
        self._graph = graph_service_pb2_grpc.GraphServiceStub(graph)
        self._tweets = tweets_service_pb2_grpc.TweetsServiceStub(tweets)

    async def counts(self, user_ids: Sequence[int]) -> dict[int, Counts]:
        if not user_ids:
            return {}
        follows, tweets = await asyncio.gather(
            _answer(
                "graph.BatchGetFollowCounts",
                self._graph.BatchGetFollowCounts(
                    graph_service_pb2.BatchGetFollowCountsRequest(user_ids=user_ids),
                ),
            ),
            _answer(
                "tweets.BatchGetUserTweetCounts",
                self._tweets.BatchGetUserTweetCounts(
                    tweets_service_pb2.BatchGetUserTweetCountsRequest(user_ids=user_ids),
                ),
            ),
        )
        if follows is None or tweets is None:
            return {}
        by_user = {entry.user_id: entry for entry in follows.counts}
        tweet_counts = {entry.user_id: entry.tweet_count for entry in tweets.counts}
        none = graph_service_pb2.FollowCounts()
        return {
            user_id: Counts(
                follower_count=by_user.get(user_id, none).follower_count,
                following_count=by_user.get(user_id, none).following_count,
                tweet_count=tweet_counts.get(user_id, 0),
            )
            for user_id in user_ids
        }

    async def relationships(
        self, caller_id: int, user_ids: Sequence[int]
    ) -> dict[int, Relationship]:
        if not user_ids:
            return {}
        edges = [
            edge
            for user_id in user_ids
            for edge in (
                graph_service_pb2.FollowEdge(follower_id=caller_id, followee_id=user_id),
                graph_service_pb2.FollowEdge(follower_id=user_id, followee_id=caller_id),
            )
        ]
        checked = await _answer(
            "graph.BatchCheckFollows",
            self._graph.BatchCheckFollows(graph_service_pb2.BatchCheckFollowsRequest(edges=edges)),
        )
        if checked is None:
            return {}
        follows = {
            (check.edge.follower_id, check.edge.followee_id): check.follows
            for check in checked.checks
        }
        return {
            user_id: Relationship(
                caller_follows=follows.get((caller_id, user_id), False),
                follows_caller=follows.get((user_id, caller_id), False),
            )
            for user_id in user_ids
        }


async def _answer(rpc: str, call: Awaitable[_R]) -> _R | None:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        log.warning("profile counts unavailable", rpc=rpc, code=error.code().name)
        return None
