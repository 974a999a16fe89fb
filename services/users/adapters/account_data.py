"""An account's archive sources (``AccountData``): its tweets and likes from tweets, its follows
from graph, its photos from media, through their public list methods, page by page, in the
API's JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import grpc
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from chirp.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2, tweets_service_pb2_grpc

from services.users.convert import json_of
from services.users.model import Record, Section

#: Items asked for per page (the lists' maximum).
PAGE_SIZE = 100


class _Listed(Protocol):
    """A list method's answer: its items are its one repeated field."""

    next_page_token: str


_Response = TypeVar("_Response", bound=_Listed)
_Request = TypeVar("_Request")


class GrpcAccountData:
    def __init__(
        self, tweets: grpc.aio.Channel, graph: grpc.aio.Channel, media: grpc.aio.Channel
    ) -> None:
        self._tweets = tweets_service_pb2_grpc.TweetsServiceStub(tweets)
        self._graph = graph_service_pb2_grpc.GraphServiceStub(graph)
        self._media = media_service_pb2_grpc.MediaServiceStub(media)

    async def pages(self, section: Section, username: str) -> AsyncIterator[list[Record]]:
        if section is Section.TWEETS:
            async for page in _paged(
                self._tweets.ListUserTweets, _of(tweets_service_pb2.ListUserTweetsRequest, username)
            ):
                yield [await self._with_versions(tweet) for tweet in page.tweets]
        elif section is Section.LIKES:
            async for liked in _paged(
                self._tweets.ListLikedTweets,
                _of(tweets_service_pb2.ListLikedTweetsRequest, username),
            ):
                yield [Record(json_of(tweet)) for tweet in liked.tweets]
        elif section is Section.FOLLOWING:
            async for following in _paged(
                self._graph.ListFollowing, _of(graph_service_pb2.ListFollowingRequest, username)
            ):
                yield [Record(json_of(user)) for user in following.users]
        else:
            async for followers in _paged(
                self._graph.ListFollowers, _of(graph_service_pb2.ListFollowersRequest, username)
            ):
                yield [Record(json_of(user)) for user in followers.users]

    async def photo(self, media_id: int) -> tuple[str, bytes] | None:
        try:
            body = await self._media.GetMediaContent(
                media_service_pb2.GetMediaContentRequest(id=media_id)
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return body.content_type, body.data

    async def _with_versions(self, tweet: tweet_pb2.Tweet) -> Record:
        document = json_of(tweet)
        if tweet.HasField("edit_time"):
            versions: list[dict[str, Any]] = []

            def request(token: str) -> tweets_service_pb2.ListTweetVersionsRequest:
                return tweets_service_pb2.ListTweetVersionsRequest(
                    tweet_id=tweet.id, page_size=PAGE_SIZE, page_token=token
                )

            async for page in _paged(self._tweets.ListTweetVersions, request):
                versions.extend(json_of(version) for version in page.versions)
            document["versions"] = versions
        photos = () if tweet.HasField("retweet_of") else _photo_ids(tweet.media)
        return Record(document, photos)


def _of(request_type: Callable[..., _Request], username: str) -> Callable[[str], _Request]:
    """The requests for the pages of a list by username."""
    return lambda token: request_type(username=username, page_size=PAGE_SIZE, page_token=token)


async def _paged(
    method: Callable[[_Request], Awaitable[_Response]], request: Callable[[str], _Request]
) -> AsyncIterator[_Response]:
    """Every page of a list method, from the first to the one without a next page token."""
    token = ""
    while True:
        response = await method(request(token))
        yield response
        token = response.next_page_token
        if not token:
            return


def _photo_ids(media: Sequence[media_pb2.Media]) -> tuple[int, ...]:
    return tuple(item.id for item in media if item.kind == media_pb2.Media.KIND_PHOTO)
