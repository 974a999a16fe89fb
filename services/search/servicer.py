"""``chirp.search.v1.SearchService`` over the domain: requests in, messages out."""

from __future__ import annotations

from typing import Any

import grpc
from chirp.search.v1 import search_service_pb2

from services.platform import wire
from services.platform.paging import page_size
from services.search.service import SearchService
from services.search.trends import TrendService

Context = grpc.aio.ServicerContext[Any, Any]


#: Answered with a serialized message assembled from the tweet cache's bytes, so the servicer
#: does not inherit the generated base class, whose types say messages.
SENT_AS_BYTES = frozenset({"SearchTweets", "ListPublicTweets"})
#: ``tweets`` and ``next_page_token`` of SearchTweetsResponse and ListPublicTweetsResponse.
TWEETS_FIELD, NEXT_PAGE_TOKEN_FIELD = 1, 2


class SearchServicer:
    def __init__(self, search: SearchService, trends: TrendService) -> None:
        self._search = search
        self._trends = trends

    async def SearchTweets(
        self, request: search_service_pb2.SearchTweetsRequest, _context: Context
    ) -> bytes:
        size = page_size(request.page_size)
        tweets, token = await self._search.search_tweets(
            request.q, request.order, size, request.page_token
        )
        found = wire.repeated(TWEETS_FIELD, (tweet.data for tweet in tweets))
        return found + wire.text(NEXT_PAGE_TOKEN_FIELD, token)

    async def ListPublicTweets(
        self, request: search_service_pb2.ListPublicTweetsRequest, _context: Context
    ) -> bytes:
        tweets, token = await self._search.public(page_size(request.page_size), request.page_token)
        found = wire.repeated(TWEETS_FIELD, (tweet.data for tweet in tweets))
        return found + wire.text(NEXT_PAGE_TOKEN_FIELD, token)

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
