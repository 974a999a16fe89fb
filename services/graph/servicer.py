"""``chirp.graph.v1.GraphService`` over the domain: requests in, messages out, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from chirp.graph.v1 import graph_service_pb2, relationship_pb2

from services.graph.model import Relationship
from services.graph.service import GraphService
from services.platform import wire
from services.platform.auth import require_caller
from services.platform.errors import InvalidArgument
from services.platform.paging import Page, bounded, page_size

Context = grpc.aio.ServicerContext[Any, Any]

DEFAULT_BATCH = 1000
MAX_BATCH = 10000
DEFAULT_IDS_PAGE = 1000
MAX_IDS_PAGE = 5000

#: Answered with serialized messages assembled from the users cache's bytes
#: (``services/platform/wire.py``), so the servicer does not inherit the generated base class,
#: whose types say messages (``wire.bytes_handler`` checks at start-up that none is missing).
SENT_AS_BYTES = frozenset({"ListFollowers", "ListFollowing", "ListSuggestedUsers"})
#: ``users`` and ``next_page_token`` of the three lists' responses.
USERS_FIELD, NEXT_PAGE_TOKEN_FIELD = 1, 2


def _id(value: int, field: str) -> int:
    if value <= 0:
        raise InvalidArgument.field(field, "must be a user id (a positive integer)")
    return value


def _users(page: Page[bytes]) -> bytes:
    """A ``List*Response`` of serialized users, as the three lists answer."""
    users = wire.repeated(USERS_FIELD, page.items)
    return users + wire.text(NEXT_PAGE_TOKEN_FIELD, page.next_token)


def _relationship(relationship: Relationship) -> relationship_pb2.Relationship:
    return relationship_pb2.Relationship(
        source_user_id=relationship.source_id,
        target_user_id=relationship.target_id,
        following=relationship.following,
        followed_by=relationship.followed_by,
    )


class GraphServicer:
    def __init__(self, graph: GraphService) -> None:
        self._graph = graph

    async def FollowUser(
        self, request: graph_service_pb2.FollowUserRequest, _context: Context
    ) -> relationship_pb2.Relationship:
        caller = require_caller()
        return _relationship(await self._graph.follow(caller.user_id, request.username))

    async def UnfollowUser(
        self, request: graph_service_pb2.UnfollowUserRequest, _context: Context
    ) -> relationship_pb2.Relationship:
        caller = require_caller()
        return _relationship(await self._graph.unfollow(caller.user_id, request.username))

    async def ListFollowers(
        self, request: graph_service_pb2.ListFollowersRequest, _context: Context
    ) -> bytes:
        page = await self._graph.followers(
            request.username, page_size(request.page_size), request.page_token
        )
        return _users(page)

    async def ListFollowing(
        self, request: graph_service_pb2.ListFollowingRequest, _context: Context
    ) -> bytes:
        page = await self._graph.following(
            request.username, page_size(request.page_size), request.page_token
        )
        return _users(page)

    async def ListSuggestedUsers(
        self, request: graph_service_pb2.ListSuggestedUsersRequest, _context: Context
    ) -> bytes:
        caller = require_caller()
        page = await self._graph.suggestions(
            caller.user_id, page_size(request.page_size), request.page_token
        )
        return _users(page)

    async def StreamFollowers(
        self, request: graph_service_pb2.StreamFollowersRequest, _context: Context
    ) -> AsyncIterator[graph_service_pb2.StreamFollowersResponse]:
        user_id = _id(request.user_id, "user_id")
        size = bounded(request.batch_size, DEFAULT_BATCH, MAX_BATCH, "batch_size")
        async for batch in self._graph.stream_followers(user_id, size):
            yield graph_service_pb2.StreamFollowersResponse(follower_ids=batch)

    async def BatchGetFollowCounts(
        self, request: graph_service_pb2.BatchGetFollowCountsRequest, _context: Context
    ) -> graph_service_pb2.BatchGetFollowCountsResponse:
        response = graph_service_pb2.BatchGetFollowCountsResponse()
        add = response.counts.add  # built in place: a message made apart is copied in again
        for entry in await self._graph.counts(list(request.user_ids)):
            add(
                user_id=entry.user_id,
                follower_count=entry.follower_count,
                following_count=entry.following_count,
            )
        return response

    async def BatchCheckFollows(
        self, request: graph_service_pb2.BatchCheckFollowsRequest, _context: Context
    ) -> graph_service_pb2.BatchCheckFollowsResponse:
        edges = list(request.edges)
        answers = await self._graph.check([(e.follower_id, e.followee_id) for e in edges])
        return graph_service_pb2.BatchCheckFollowsResponse(
            checks=[
                graph_service_pb2.FollowCheck(edge=edge, follows=follows)
                for edge, follows in zip(edges, answers, strict=True)
            ]
        )

    async def GetRelationship(
        self, request: graph_service_pb2.GetRelationshipRequest, _context: Context
    ) -> relationship_pb2.Relationship:
        source = _id(request.source_user_id, "source_user_id")
        target = _id(request.target_user_id, "target_user_id")
        return _relationship(await self._graph.relationship(source, target))

    async def ListFollowingIds(
        self, request: graph_service_pb2.ListFollowingIdsRequest, _context: Context
    ) -> graph_service_pb2.ListFollowingIdsResponse:
        page = await self._graph.following_ids(
            _id(request.user_id, "user_id"),
            request.min_follower_count,
            bounded(request.page_size, DEFAULT_IDS_PAGE, MAX_IDS_PAGE),
            request.page_token,
        )
        return graph_service_pb2.ListFollowingIdsResponse(
            user_ids=page.items, next_page_token=page.next_token
        )
