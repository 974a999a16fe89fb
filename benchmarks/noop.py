"""``python -m benchmarks.noop PORT [STREAMED_FOLLOWERS [WITHOUT]]``: the baseline, a
TweetsService, a GraphService, a TimelinesService, a SearchService and a UsersService that do
no work (``WITHOUT``: interceptors left out, their class names comma-separated).

It runs the very platform of the real services (interceptors, token verification, metrics,
health), so what a benchmark compares is a service's own work against the cost of serving any
RPC at all on this machine. Answers are shaped like the real ones (a page of ``page_size``
users that carry only their id, one count per id, a page of ``page_size`` tweets that carry
only their id, ``page_size`` trends that carry only a name) so that both sides send similar
bytes;
StreamFollowers streams ``STREAMED_FOLLOWERS`` ids (default 0) whatever user is asked for.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import grpc
import uvloop
from chirp.graph.v1 import graph_service_pb2, relationship_pb2
from chirp.graph.v1.graph_service_pb2 import FollowUserRequest
from chirp.search.v1 import search_service_pb2, trend_pb2
from chirp.timelines.v1 import timelines_service_pb2
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2
from chirp.users.v1 import user_pb2, users_service_pb2

from services.platform.auth import TokenVerifier
from services.platform.interceptors import ServerScopes, default_scopes
from services.platform.logging import configure_logging
from services.platform.server import Registration, serve
from services.platform.settings import Settings
from services.platform.tracing import configure_tracing

TWEETS = tweets_service_pb2.DESCRIPTOR.services_by_name["TweetsService"].full_name
GRAPH = graph_service_pb2.DESCRIPTOR.services_by_name["GraphService"].full_name
TIMELINES = timelines_service_pb2.DESCRIPTOR.services_by_name["TimelinesService"].full_name
SEARCH = search_service_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name
USERS = users_service_pb2.DESCRIPTOR.services_by_name["UsersService"].full_name
DEFAULT_PAGE_SIZE = 20
DEFAULT_STREAM_BATCH = 1000
Context = grpc.aio.ServicerContext[bytes, bytes]


async def create_tweet(
    request: tweets_service_pb2.CreateTweetRequest, _context: Context
) -> tweet_pb2.Tweet:
    return tweet_pb2.Tweet(text=request.text)


async def engage_tweet(
    request: tweets_service_pb2.LikeTweetRequest | tweets_service_pb2.UnlikeTweetRequest,
    _context: Context,
) -> tweet_pb2.Tweet:
    return tweet_pb2.Tweet(id=request.id)


async def get_tweet(
    request: tweets_service_pb2.GetTweetRequest, _context: Context
) -> tweet_pb2.Tweet:
    return tweet_pb2.Tweet(id=request.id)


async def batch_get_tweets(
    request: tweets_service_pb2.BatchGetTweetsRequest, _context: Context
) -> tweets_service_pb2.BatchGetTweetsResponse:
    return tweets_service_pb2.BatchGetTweetsResponse(
        tweets=[tweet_pb2.Tweet(id=tweet_id) for tweet_id in request.ids]
    )


def _tweets(page_size: int) -> list[tweet_pb2.Tweet]:
    return [tweet_pb2.Tweet(id=index + 1) for index in range(page_size or DEFAULT_PAGE_SIZE)]


async def list_user_tweets(
    request: tweets_service_pb2.ListUserTweetsRequest, _context: Context
) -> tweets_service_pb2.ListUserTweetsResponse:
    return tweets_service_pb2.ListUserTweetsResponse(
        tweets=_tweets(request.page_size),
        next_page_token="user-2",  # noqa: S106 (a page token, not a secret)
    )


async def search_tweets(
    request: search_service_pb2.SearchTweetsRequest, _context: Context
) -> search_service_pb2.SearchTweetsResponse:
    return search_service_pb2.SearchTweetsResponse(
        tweets=_tweets(request.page_size),
        next_page_token="search-2",  # noqa: S106 (a page token, not a secret)
    )


async def list_trends(
    request: search_service_pb2.ListTrendsRequest, _context: Context
) -> search_service_pb2.ListTrendsResponse:
    size = request.page_size or DEFAULT_PAGE_SIZE
    return search_service_pb2.ListTrendsResponse(
        trends=[trend_pb2.Trend(name=f"#trend{index}") for index in range(size)]
    )


async def get_user(request: users_service_pb2.GetUserRequest, _context: Context) -> user_pb2.User:
    return user_pb2.User(id=1, username=request.username)


def _users(page_size: int) -> list[user_pb2.User]:
    return [user_pb2.User(id=index + 1) for index in range(page_size or DEFAULT_PAGE_SIZE)]


async def list_followers(
    request: graph_service_pb2.ListFollowersRequest, _context: Context
) -> graph_service_pb2.ListFollowersResponse:
    return graph_service_pb2.ListFollowersResponse(
        users=_users(request.page_size),
        next_page_token="page-2",  # noqa: S106 (a page token, not a secret)
    )


async def follow_user(
    request: graph_service_pb2.FollowUserRequest | graph_service_pb2.UnfollowUserRequest,
    _context: Context,
) -> relationship_pb2.Relationship:
    return relationship_pb2.Relationship(following=isinstance(request, FollowUserRequest))


async def list_suggested_users(
    request: graph_service_pb2.ListSuggestedUsersRequest, _context: Context
) -> graph_service_pb2.ListSuggestedUsersResponse:
    return graph_service_pb2.ListSuggestedUsersResponse(users=_users(request.page_size))


async def batch_get_follow_counts(
    request: graph_service_pb2.BatchGetFollowCountsRequest, _context: Context
) -> graph_service_pb2.BatchGetFollowCountsResponse:
    return graph_service_pb2.BatchGetFollowCountsResponse(
        counts=[graph_service_pb2.FollowCounts(user_id=user_id) for user_id in request.user_ids]
    )


async def list_home_timeline(
    request: timelines_service_pb2.ListHomeTimelineRequest, _context: Context
) -> timelines_service_pb2.ListHomeTimelineResponse:
    size = request.page_size or DEFAULT_PAGE_SIZE
    return timelines_service_pb2.ListHomeTimelineResponse(
        tweets=_tweets(size),
        next_page_token="home-2",  # noqa: S106 (a page token, not a secret)
    )


def stream_followers(
    streamed: int,
) -> Callable[
    [graph_service_pb2.StreamFollowersRequest, Context],
    AsyncIterator[graph_service_pb2.StreamFollowersResponse],
]:
    async def stream(
        request: graph_service_pb2.StreamFollowersRequest, _context: Context
    ) -> AsyncIterator[graph_service_pb2.StreamFollowersResponse]:
        batch = request.batch_size or DEFAULT_STREAM_BATCH
        for start in range(0, streamed, batch):
            yield graph_service_pb2.StreamFollowersResponse(
                follower_ids=range(start + 1, min(start + batch, streamed) + 1)
            )

    return stream


def _handler(
    behaviour: object, request_type: type, response_type: type
) -> grpc.RpcMethodHandler[bytes, bytes]:
    return grpc.unary_unary_rpc_method_handler(
        behaviour,  # type: ignore[arg-type]
        request_deserializer=request_type.FromString,  # type: ignore[attr-defined]
        response_serializer=response_type.SerializeToString,  # type: ignore[attr-defined]
    )


def _graph_handlers(streamed: int) -> dict[str, grpc.RpcMethodHandler[bytes, bytes]]:
    return {
        "ListFollowers": _handler(
            list_followers,
            graph_service_pb2.ListFollowersRequest,
            graph_service_pb2.ListFollowersResponse,
        ),
        "FollowUser": _handler(
            follow_user, graph_service_pb2.FollowUserRequest, relationship_pb2.Relationship
        ),
        "UnfollowUser": _handler(
            follow_user, graph_service_pb2.UnfollowUserRequest, relationship_pb2.Relationship
        ),
        "ListSuggestedUsers": _handler(
            list_suggested_users,
            graph_service_pb2.ListSuggestedUsersRequest,
            graph_service_pb2.ListSuggestedUsersResponse,
        ),
        "BatchGetFollowCounts": _handler(
            batch_get_follow_counts,
            graph_service_pb2.BatchGetFollowCountsRequest,
            graph_service_pb2.BatchGetFollowCountsResponse,
        ),
        "StreamFollowers": grpc.unary_stream_rpc_method_handler(
            stream_followers(streamed),
            request_deserializer=graph_service_pb2.StreamFollowersRequest.FromString,  # type: ignore[arg-type]
            response_serializer=graph_service_pb2.StreamFollowersResponse.SerializeToString,  # type: ignore[arg-type]
        ),
    }


def wiring(
    streamed: int,
) -> Callable[[Settings], AbstractAsyncContextManager[Sequence[Registration]]]:
    @asynccontextmanager
    async def registrations(_settings: Settings) -> AsyncIterator[Sequence[Registration]]:
        tweets = _tweets_handlers()
        graph = _graph_handlers(streamed)
        timelines = {
            "ListHomeTimeline": _handler(
                list_home_timeline,
                timelines_service_pb2.ListHomeTimelineRequest,
                timelines_service_pb2.ListHomeTimelineResponse,
            )
        }

        yield [
            _registration(TWEETS, tweets),
            _registration(GRAPH, graph),
            _registration(TIMELINES, timelines),
            _registration(SEARCH, _search_handlers()),
            _registration(
                USERS,
                {"GetUser": _handler(get_user, users_service_pb2.GetUserRequest, user_pb2.User)},
            ),
        ]

    return registrations


def _registration(
    service: str, handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]]
) -> Registration:
    def add(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))

    return Registration(service, add)


def _search_handlers() -> dict[str, grpc.RpcMethodHandler[bytes, bytes]]:
    return {
        "SearchTweets": _handler(
            search_tweets,
            search_service_pb2.SearchTweetsRequest,
            search_service_pb2.SearchTweetsResponse,
        ),
        "ListTrends": _handler(
            list_trends, search_service_pb2.ListTrendsRequest, search_service_pb2.ListTrendsResponse
        ),
    }


def _tweets_handlers() -> dict[str, grpc.RpcMethodHandler[bytes, bytes]]:
    return {
        "CreateTweet": _handler(
            create_tweet, tweets_service_pb2.CreateTweetRequest, tweet_pb2.Tweet
        ),
        "GetTweet": _handler(get_tweet, tweets_service_pb2.GetTweetRequest, tweet_pb2.Tweet),
        "LikeTweet": _handler(engage_tweet, tweets_service_pb2.LikeTweetRequest, tweet_pb2.Tweet),
        "UnlikeTweet": _handler(
            engage_tweet, tweets_service_pb2.UnlikeTweetRequest, tweet_pb2.Tweet
        ),
        "BatchGetTweets": _handler(
            batch_get_tweets,
            tweets_service_pb2.BatchGetTweetsRequest,
            tweets_service_pb2.BatchGetTweetsResponse,
        ),
        "ListUserTweets": _handler(
            list_user_tweets,
            tweets_service_pb2.ListUserTweetsRequest,
            tweets_service_pb2.ListUserTweetsResponse,
        ),
    }


def main(port: int, streamed: int, without: set[str]) -> None:
    """Serves on the services' own event loop (uvloop), with their interceptors but those
    named in ``without`` (``benchmarks/edge.py`` measures what each costs)."""
    settings = Settings(service="tweets", grpc_port=port, log_level="warning")
    configure_logging("noop", settings.log_level)
    configure_tracing("noop", settings.tracing)  # traced as the services are

    def interceptors(verifier: TokenVerifier) -> list[grpc.aio.ServerInterceptor]:
        scopes = default_scopes(verifier)
        return [ServerScopes(*(each for each in scopes if type(each).__name__ not in without))]

    uvloop.run(serve(settings, wiring(streamed), interceptors))


if __name__ == "__main__":
    port, streamed, without = [*sys.argv[1:], "", ""][:3]
    main(int(port), int(streamed or 0), set(filter(None, without.split(","))))
