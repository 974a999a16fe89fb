"""Chirp's services as the Mastodon API calls them: the users service for sign-ins and sessions
(``GrpcAccounts``), and every service on behalf of the caller (``GrpcChirp``: the caller's
session token is sent as theirs, so each service applies its own rules to them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from chirp.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from chirp.search.v1 import search_service_pb2, search_service_pb2_grpc, trend_pb2
from chirp.timelines.v1 import timelines_service_pb2, timelines_service_pb2_grpc
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2, tweets_service_pb2_grpc
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2

from services.platform.calls import answer, callee_error

#: BatchGetUsers takes at most this many ids.
BATCH = 100


def _call(session: str) -> dict[str, Any]:
    """A call's options: the caller's session token when there is one."""
    metadata = (("authorization", f"Bearer {session}"),) if session else ()
    return {"metadata": metadata}


class GrpcAccounts:
    def __init__(self, users: grpc.aio.Channel) -> None:
        self._users = users_service_pb2_grpc.UsersServiceStub(users)

    async def sign_in(self, username: str, password: str) -> int:
        request = users_service_pb2.CreateSessionRequest(username=username, password=password)
        session = await answer("users", self._users.CreateSession(request))
        return session.user.id

    async def register(self, username: str, password: str, display_name: str) -> int:
        request = users_service_pb2.CreateUserRequest(
            username=username, password=password, display_name=display_name
        )
        user = await answer("users", self._users.CreateUser(request))
        return user.id

    async def session(self, user_id: int) -> tuple[str, datetime]:
        request = users_service_pb2.IssueSessionRequest(user_id=user_id)
        session = await answer("users", self._users.IssueSession(request))
        return session.access_token, session.expire_time.ToDatetime(tzinfo=UTC)


@dataclass(frozen=True)
class Channels:
    """One channel to each service the Mastodon API calls."""

    users: grpc.aio.Channel
    tweets: grpc.aio.Channel
    graph: grpc.aio.Channel
    timelines: grpc.aio.Channel
    search: grpc.aio.Channel
    media: grpc.aio.Channel

    async def close(self) -> None:
        for channel in (
            self.users,
            self.tweets,
            self.graph,
            self.timelines,
            self.search,
            self.media,
        ):
            await channel.close()


class GrpcChirp:
    def __init__(self, channels: Channels) -> None:
        self._users = users_service_pb2_grpc.UsersServiceStub(channels.users)
        self._tweets = tweets_service_pb2_grpc.TweetsServiceStub(channels.tweets)
        self._graph = graph_service_pb2_grpc.GraphServiceStub(channels.graph)
        self._timelines = timelines_service_pb2_grpc.TimelinesServiceStub(channels.timelines)
        self._search = search_service_pb2_grpc.SearchServiceStub(channels.search)
        self._media = media_service_pb2_grpc.MediaServiceStub(channels.media)

    async def me(self, session: str) -> user_pb2.User:
        request = users_service_pb2.GetCurrentUserRequest()
        return await answer("users", self._users.GetCurrentUser(request, **_call(session)))

    async def update_me(
        self, session: str, display_name: str | None, bio: str | None
    ) -> user_pb2.User:
        changed = {"display_name": display_name, "bio": bio}
        paths = [path for path, value in changed.items() if value is not None]
        request = users_service_pb2.UpdateCurrentUserRequest(
            user=user_pb2.User(display_name=display_name or "", bio=bio or ""),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        )
        return await answer("users", self._users.UpdateCurrentUser(request, **_call(session)))

    async def users(self, ids: Sequence[int], session: str) -> dict[int, user_pb2.User]:
        found: dict[int, user_pb2.User] = {}
        for start in range(0, len(ids), BATCH):
            request = users_service_pb2.BatchGetUsersRequest(
                ids=ids[start : start + BATCH], view=user_pb2.USER_VIEW_FULL
            )
            response = await answer("users", self._users.BatchGetUsers(request, **_call(session)))
            found.update((user.id, user) for user in response.users)
        return found

    async def user(self, username: str, session: str) -> user_pb2.User:
        request = users_service_pb2.GetUserRequest(username=username)
        return await answer("users", self._users.GetUser(request, **_call(session)))

    async def post(
        self, session: str, text: str, reply_to_id: int, media_ids: Sequence[int], key: str
    ) -> tweet_pb2.Tweet:
        request = tweets_service_pb2.CreateTweetRequest(
            text=text, reply_to_id=reply_to_id, media_ids=media_ids, idempotency_key=key
        )
        return await answer("tweets", self._tweets.CreateTweet(request, **_call(session)))

    async def tweet(self, tweet_id: int, session: str) -> tweet_pb2.Tweet:
        request = tweets_service_pb2.GetTweetRequest(id=tweet_id)
        return await answer("tweets", self._tweets.GetTweet(request, **_call(session)))

    async def delete(self, tweet_id: int, session: str) -> None:
        request = tweets_service_pb2.DeleteTweetRequest(id=tweet_id)
        await answer("tweets", self._tweets.DeleteTweet(request, **_call(session)))

    async def like(self, tweet_id: int, session: str, *, undo: bool) -> tweet_pb2.Tweet:
        if undo:
            unlike = tweets_service_pb2.UnlikeTweetRequest(id=tweet_id)
            return await answer("tweets", self._tweets.UnlikeTweet(unlike, **_call(session)))
        like = tweets_service_pb2.LikeTweetRequest(id=tweet_id)
        return await answer("tweets", self._tweets.LikeTweet(like, **_call(session)))

    async def retweet(self, tweet_id: int, session: str, *, undo: bool) -> tweet_pb2.Tweet:
        if undo:
            undone = tweets_service_pb2.UnretweetTweetRequest(id=tweet_id)
            return await answer("tweets", self._tweets.UnretweetTweet(undone, **_call(session)))
        request = tweets_service_pb2.RetweetTweetRequest(id=tweet_id)
        return await answer("tweets", self._tweets.RetweetTweet(request, **_call(session)))

    async def home(
        self, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]:
        request = timelines_service_pb2.ListHomeTimelineRequest(
            page_size=size, page_token=page_token
        )
        page = await answer(
            "timelines", self._timelines.ListHomeTimeline(request, **_call(session))
        )
        return list(page.tweets), page.next_page_token

    async def user_tweets(
        self, username: str, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]:
        request = tweets_service_pb2.ListUserTweetsRequest(
            username=username, page_size=size, page_token=page_token
        )
        page = await answer("tweets", self._tweets.ListUserTweets(request, **_call(session)))
        return list(page.tweets), page.next_page_token

    async def follow(self, username: str, session: str, *, undo: bool) -> tuple[bool, bool]:
        if undo:
            unfollow = graph_service_pb2.UnfollowUserRequest(username=username)
            now = await answer("graph", self._graph.UnfollowUser(unfollow, **_call(session)))
        else:
            follow = graph_service_pb2.FollowUserRequest(username=username)
            now = await answer("graph", self._graph.FollowUser(follow, **_call(session)))
        return now.following, now.followed_by

    async def edit(self, tweet_id: int, text: str, session: str) -> tweet_pb2.Tweet:
        request = tweets_service_pb2.UpdateTweetRequest(
            tweet=tweet_pb2.Tweet(id=tweet_id, text=text)
        )
        return await answer("tweets", self._tweets.UpdateTweet(request, **_call(session)))

    async def versions(self, tweet_id: int, session: str) -> list[tweet_pb2.TweetVersion]:
        """Every earlier version of a tweet, newest first."""
        found: list[tweet_pb2.TweetVersion] = []
        token = ""
        while True:
            request = tweets_service_pb2.ListTweetVersionsRequest(
                tweet_id=tweet_id, page_size=100, page_token=token
            )
            page = await answer("tweets", self._tweets.ListTweetVersions(request, **_call(session)))
            found += page.versions
            token = page.next_page_token
            if not token:
                return found

    async def replies(
        self, tweet_id: int, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]:
        request = tweets_service_pb2.ListRepliesRequest(
            tweet_id=tweet_id, page_size=size, page_token=page_token
        )
        page = await answer("tweets", self._tweets.ListReplies(request, **_call(session)))
        return list(page.tweets), page.next_page_token

    async def likers(
        self, tweet_id: int, session: str, size: int, page_token: str
    ) -> tuple[list[user_pb2.User], str]:
        request = tweets_service_pb2.ListLikingUsersRequest(
            tweet_id=tweet_id, page_size=size, page_token=page_token
        )
        page = await answer("tweets", self._tweets.ListLikingUsers(request, **_call(session)))
        return list(page.users), page.next_page_token

    async def retweeters(
        self, tweet_id: int, session: str, size: int, page_token: str
    ) -> tuple[list[user_pb2.User], str]:
        request = tweets_service_pb2.ListRetweetingUsersRequest(
            tweet_id=tweet_id, page_size=size, page_token=page_token
        )
        page = await answer("tweets", self._tweets.ListRetweetingUsers(request, **_call(session)))
        return list(page.users), page.next_page_token

    async def liked(
        self, username: str, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]:
        request = tweets_service_pb2.ListLikedTweetsRequest(
            username=username, page_size=size, page_token=page_token
        )
        page = await answer("tweets", self._tweets.ListLikedTweets(request, **_call(session)))
        return list(page.tweets), page.next_page_token

    async def follows(
        self, username: str, session: str, size: int, page_token: str, *, followers: bool
    ) -> tuple[list[user_pb2.User], str]:
        if followers:
            of = graph_service_pb2.ListFollowersRequest(
                username=username, page_size=size, page_token=page_token
            )
            found = await answer("graph", self._graph.ListFollowers(of, **_call(session)))
            return list(found.users), found.next_page_token
        by = graph_service_pb2.ListFollowingRequest(
            username=username, page_size=size, page_token=page_token
        )
        following = await answer("graph", self._graph.ListFollowing(by, **_call(session)))
        return list(following.users), following.next_page_token

    async def suggestions(self, session: str, size: int) -> list[user_pb2.User]:
        request = graph_service_pb2.ListSuggestedUsersRequest(page_size=size)
        page = await answer("graph", self._graph.ListSuggestedUsers(request, **_call(session)))
        return list(page.users)

    async def search_tweets(
        self, q: str, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]:
        request = search_service_pb2.SearchTweetsRequest(q=q, page_size=size, page_token=page_token)
        page = await answer("search", self._search.SearchTweets(request, **_call(session)))
        return list(page.tweets), page.next_page_token

    async def search_users(
        self, q: str, session: str, size: int, page_token: str
    ) -> tuple[list[user_pb2.User], str]:
        request = search_service_pb2.SearchUsersRequest(q=q, page_size=size, page_token=page_token)
        page = await answer("search", self._search.SearchUsers(request, **_call(session)))
        return list(page.users), page.next_page_token

    async def trends(self, size: int) -> list[trend_pb2.Trend]:
        request = search_service_pb2.ListTrendsRequest(page_size=size)
        page = await answer("search", self._search.ListTrends(request))
        return list(page.trends)

    async def upload(
        self, session: str, data: bytes, content_type: str, description: str
    ) -> media_pb2.Media:
        request = media_service_pb2.CreateMediaRequest(
            content=httpbody_pb2.HttpBody(content_type=content_type, data=data),
            alt_text=description,
        )
        return await answer("media", self._media.CreateMedia(request, **_call(session)))

    async def media(self, media_id: int, session: str) -> media_pb2.Media:
        request = media_service_pb2.GetMediaRequest(id=media_id)
        return await answer("media", self._media.GetMedia(request, **_call(session)))

    async def public(
        self, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]:
        request = search_service_pb2.ListPublicTweetsRequest(page_size=size, page_token=page_token)
        page = await answer("search", self._search.ListPublicTweets(request, **_call(session)))
        return list(page.tweets), page.next_page_token

    async def home_changes(
        self, session: str
    ) -> AsyncIterator[tuple[list[tweet_pb2.Tweet], list[int]]]:
        request = timelines_service_pb2.StreamHomeTimelineRequest()
        metadata = (("authorization", f"Bearer {session}"),)
        try:
            async for change in self._timelines.StreamHomeTimeline(request, metadata=metadata):
                yield list(change.tweets), list(change.removed_tweet_ids)
        except grpc.aio.AioRpcError as error:
            raise callee_error("timelines", error) from error

    async def engagements(
        self, tweet_ids: Sequence[int], session: str
    ) -> tuple[set[int], set[int]]:
        liked: set[int] = set()
        retweeted: set[int] = set()
        for start in range(0, len(tweet_ids), BATCH):
            request = tweets_service_pb2.BatchGetEngagementsRequest(
                tweet_ids=tweet_ids[start : start + BATCH]
            )
            found = await answer(
                "tweets", self._tweets.BatchGetEngagements(request, **_call(session))
            )
            liked.update(found.liked_tweet_ids)
            retweeted.update(found.retweeted_tweet_ids)
        return liked, retweeted
