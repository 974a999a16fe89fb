"""``chirp.tweets.v1.TweetsService`` over the domain: requests in, messages out, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2
from google.protobuf import empty_pb2

from services.platform import wire
from services.platform.auth import current_caller, require_caller
from services.platform.errors import InvalidArgument
from services.platform.paging import Page, bounded, page_size
from services.tweets import convert, rules
from services.tweets.service import Draft, TweetService

Context = grpc.aio.ServicerContext[Any, Any]


def _id(value: int, field: str = "id") -> int:
    if value <= 0:
        raise InvalidArgument.field(field, "must be a tweet id (a positive integer)")
    return value


#: ``tweets`` in ListRepliesResponse, ListUserTweetsResponse, ListLikedTweetsResponse and
#: BatchGetTweetsResponse; ``next_page_token`` in the first three.
TWEETS_FIELD, NEXT_PAGE_TOKEN_FIELD = 1, 2


def _tweet_page(page: Page[bytes]) -> bytes:
    return wire.repeated(TWEETS_FIELD, page.items) + wire.text(
        NEXT_PAGE_TOKEN_FIELD, page.next_token
    )


def _caller_id() -> int | None:
    caller = current_caller()
    return None if caller is None else caller.user_id


#: The hot reads: they answer with serialized messages assembled from the cache's bytes, so the
#: servicer does not inherit the generated base class, whose types say messages
#: (``wire.bytes_handler`` registers every method, and fails at start-up if one is missing).
SENT_AS_BYTES = frozenset(
    {"GetTweet", "BatchGetTweets", "ListReplies", "ListUserTweets", "ListLikedTweets"}
)


class TweetsServicer:
    def __init__(self, tweets: TweetService) -> None:
        self._tweets = tweets

    async def CreateTweet(
        self, request: tweets_service_pb2.CreateTweetRequest, _context: Context
    ) -> tweet_pb2.Tweet:
        draft = Draft(
            text=request.text,
            reply_to_id=request.reply_to_id,
            media_ids=tuple(request.media_ids),
            idempotency_key=request.idempotency_key,
        )
        return convert.tweet_message(await self._tweets.create(require_caller().user_id, draft))

    async def GetTweet(
        self, request: tweets_service_pb2.GetTweetRequest, _context: Context
    ) -> bytes:
        return await self._tweets.get(_id(request.id))

    async def BatchGetTweets(
        self, request: tweets_service_pb2.BatchGetTweetsRequest, _context: Context
    ) -> bytes:
        return wire.repeated(TWEETS_FIELD, await self._tweets.batch_get(list(request.ids)))

    async def ListReplies(
        self, request: tweets_service_pb2.ListRepliesRequest, _context: Context
    ) -> bytes:
        page = await self._tweets.replies(
            _id(request.tweet_id, "tweet_id"), page_size(request.page_size), request.page_token
        )
        return _tweet_page(page)

    async def ListUserTweets(
        self, request: tweets_service_pb2.ListUserTweetsRequest, _context: Context
    ) -> bytes:
        page = await self._tweets.user_tweets(
            request.username, _caller_id(), page_size(request.page_size), request.page_token
        )
        return _tweet_page(page)

    async def ListLikedTweets(
        self, request: tweets_service_pb2.ListLikedTweetsRequest, _context: Context
    ) -> bytes:
        page = await self._tweets.liked_tweets(
            request.username, _caller_id(), page_size(request.page_size), request.page_token
        )
        return _tweet_page(page)

    async def UpdateTweet(
        self, request: tweets_service_pb2.UpdateTweetRequest, _context: Context
    ) -> tweet_pb2.Tweet:
        caller = require_caller()
        view = await self._tweets.edit(
            caller.user_id,
            _id(request.tweet.id, "tweet.id"),
            request.tweet.text,
            list(request.update_mask.paths),
        )
        return convert.tweet_message(view)

    async def DeleteTweet(
        self, request: tweets_service_pb2.DeleteTweetRequest, _context: Context
    ) -> empty_pb2.Empty:
        await self._tweets.delete(require_caller().user_id, _id(request.id))
        return empty_pb2.Empty()

    async def ListTweetVersions(
        self, request: tweets_service_pb2.ListTweetVersionsRequest, _context: Context
    ) -> tweets_service_pb2.ListTweetVersionsResponse:
        page = await self._tweets.versions(
            _id(request.tweet_id, "tweet_id"), page_size(request.page_size), request.page_token
        )
        return tweets_service_pb2.ListTweetVersionsResponse(
            versions=[convert.version_message(entry) for entry in page.items],
            next_page_token=page.next_token,
        )

    async def LikeTweet(
        self, request: tweets_service_pb2.LikeTweetRequest, _context: Context
    ) -> tweet_pb2.Tweet:
        view = await self._tweets.like(require_caller().user_id, _id(request.id))
        return convert.tweet_message(view)

    async def UnlikeTweet(
        self, request: tweets_service_pb2.UnlikeTweetRequest, _context: Context
    ) -> tweet_pb2.Tweet:
        view = await self._tweets.unlike(require_caller().user_id, _id(request.id))
        return convert.tweet_message(view)

    async def RetweetTweet(
        self, request: tweets_service_pb2.RetweetTweetRequest, _context: Context
    ) -> tweet_pb2.Tweet:
        view = await self._tweets.retweet(require_caller().user_id, _id(request.id))
        return convert.tweet_message(view)

    async def UnretweetTweet(
        self, request: tweets_service_pb2.UnretweetTweetRequest, _context: Context
    ) -> tweet_pb2.Tweet:
        view = await self._tweets.unretweet(require_caller().user_id, _id(request.id))
        return convert.tweet_message(view)

    async def ListLikingUsers(
        self, request: tweets_service_pb2.ListLikingUsersRequest, _context: Context
    ) -> tweets_service_pb2.ListLikingUsersResponse:
        page = await self._tweets.likers(
            _id(request.tweet_id, "tweet_id"), page_size(request.page_size), request.page_token
        )
        return tweets_service_pb2.ListLikingUsersResponse(
            users=[convert.user_message(user) for user in page.items],
            next_page_token=page.next_token,
        )

    async def ListRetweetingUsers(
        self, request: tweets_service_pb2.ListRetweetingUsersRequest, _context: Context
    ) -> tweets_service_pb2.ListRetweetingUsersResponse:
        page = await self._tweets.retweeters(
            _id(request.tweet_id, "tweet_id"), page_size(request.page_size), request.page_token
        )
        return tweets_service_pb2.ListRetweetingUsersResponse(
            users=[convert.user_message(user) for user in page.items],
            next_page_token=page.next_token,
        )

    async def ListRecentTweetIds(
        self, request: tweets_service_pb2.ListRecentTweetIdsRequest, _context: Context
    ) -> tweets_service_pb2.ListRecentTweetIdsResponse:
        since = convert.moment(request.since_time) if request.HasField("since_time") else None
        most = bounded(
            request.max_results,
            rules.MAX_RECENT_RESULTS,
            rules.MAX_RECENT_RESULTS,
            "max_results",
        )
        ids = await self._tweets.recent_ids(list(request.author_ids), since, most)
        return tweets_service_pb2.ListRecentTweetIdsResponse(tweet_ids=ids)

    async def StreamTweets(
        self, request: tweets_service_pb2.StreamTweetsRequest, _context: Context
    ) -> AsyncIterator[tweets_service_pb2.StreamTweetsResponse]:
        size = bounded(
            request.batch_size, rules.DEFAULT_STREAM_BATCH, rules.MAX_STREAM_BATCH, "batch_size"
        )
        async for views in self._tweets.stream(size):
            yield tweets_service_pb2.StreamTweetsResponse(
                tweets=[convert.tweet_message(view) for view in views]
            )

    async def BatchGetEngagements(
        self, request: tweets_service_pb2.BatchGetEngagementsRequest, _context: Context
    ) -> tweets_service_pb2.BatchGetEngagementsResponse:
        liked, retweeted = await self._tweets.engagements(
            require_caller().user_id, list(request.tweet_ids)
        )
        return tweets_service_pb2.BatchGetEngagementsResponse(
            liked_tweet_ids=liked, retweeted_tweet_ids=retweeted
        )

    async def BatchGetUserTweetCounts(
        self, request: tweets_service_pb2.BatchGetUserTweetCountsRequest, _context: Context
    ) -> tweets_service_pb2.BatchGetUserTweetCountsResponse:
        counts = await self._tweets.tweet_counts(list(request.user_ids))
        return tweets_service_pb2.BatchGetUserTweetCountsResponse(
            counts=[
                tweets_service_pb2.UserTweetCount(user_id=user_id, tweet_count=count)
                for user_id, count in counts
            ]
        )
