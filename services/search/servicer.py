"""``chirp.search.v1.SearchService`` over the domain: requests in, messages out."""

from __future__ import annotations

from typing import Any

import grpc
from chirp.search.v1 import search_service_pb2, search_service_pb2_grpc

from services.bootstrap.paging import page_size
from services.search.service import SearchService
from services.search.trends import TrendService

Context = grpc.aio.ServicerContext[Any, Any]


class SearchServicer(search_service_pb2_grpc.SearchServiceServicer):
    def __init__(self, search: SearchService, trends: TrendService) -> None:
        self._search = search
        self._trends = trends

    async def SearchTweets(
        self, request: search_service_pb2.SearchTweetsRequest, _context: Context
    ) -> search_service_pb2.SearchTweetsResponse:
        size = page_size(request.page_size)
        tweets, token = await self._search.search_tweets(
            request.q, request.order, size, request.page_token
        )
        return search_service_pb2.SearchTweetsResponse(tweets=tweets, next_page_token=token)

    async def SearchUsers(
        self, request: search_service_pb2.SearchUsersRequest, _context: Context
    ) -> search_service_pb2.SearchUsersResponse:
        size = page_size(request.page_size)
        users, token = await self._search.search_users(request.q, size, request.page_token)
        return search_service_pb2.SearchUsersResponse(users=users, next_page_token=token)

    async def ListTrends(
        self, request: search_service_pb2.ListTrendsRequest, _context: Context
    ) -> search_service_pb2.ListTrendsResponse:
        trends, token = await self._trends.page(page_size(request.page_size), request.page_token)
        return search_service_pb2.ListTrendsResponse(
            trends=[t.message() for t in trends], next_page_token=token
        )

    async def RebuildIndex(
        self, _request: search_service_pb2.RebuildIndexRequest, _context: Context
    ) -> search_service_pb2.RebuildIndexResponse:
        tweets, users = await self._search.rebuild()
        return search_service_pb2.RebuildIndexResponse(tweet_count=tweets, user_count=users)
