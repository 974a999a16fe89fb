"""What contract tests do to the world a port reads, and how it is done on the local stack:
follows made as the graph service makes them, tweets posted through the tweets service by
accounts registered with the users service. Follows are between random ids far above real
accounts' (``random_user_id``), accounts have fresh usernames, so tests never see each other's
data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import grpc
from chirp.tweets.v1 import tweets_service_pb2, tweets_service_pb2_grpc
from chirp.users.v1 import users_service_pb2, users_service_pb2_grpc
from neo4j import AsyncDriver

from services.graph.adapters.outbox import Neo4jOutboxStore
from services.graph.adapters.store import Neo4jGraphStore
from services.platform.caches.followings import RedisFollowChanges
from services.platform.resp import RespClient
from tests.integration.graph.support import PASSWORD


@dataclass(frozen=True)
class Channels:
    """To the running services (a channel connects at its first call)."""

    users: grpc.aio.Channel
    graph: grpc.aio.Channel
    tweets: grpc.aio.Channel


class Follows(Protocol):
    async def follow(self, follower_id: int, followee_id: int) -> object:
        """Whatever it answers (a graph store answers the change) is not looked at."""
        ...


class Posts(Protocol):
    async def author(self) -> int:
        """A new user, who may post."""
        ...

    async def post(self, author_id: int) -> int: ...


class Tweeting(Posts, Protocol):
    async def retweet(self, user_id: int, tweet_id: int) -> int: ...
    async def delete(self, author_id: int, tweet_id: int) -> None: ...


class LiveGraph:
    """Follows as the graph service makes them: the edge in Neo4j, then a change counted for
    the readers that keep what they derived from follows (its caches, timelines, users)."""

    def __init__(self, driver: AsyncDriver, redis: RespClient) -> None:
        self.store = Neo4jGraphStore(driver, Neo4jOutboxStore(driver))
        self._changes = RedisFollowChanges(redis)

    async def follow(self, follower_id: int, followee_id: int) -> None:
        await self.store.follow(follower_id, followee_id)
        await self._changes.changed(follower_id, followee_id)


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    token: str


async def register(channel: grpc.aio.Channel) -> Account:
    """A new account with the running users service, signed in."""
    stub = users_service_pb2_grpc.UsersServiceStub(channel)
    username = f"k{uuid.uuid4().hex[:12]}"
    user = await stub.CreateUser(
        users_service_pb2.CreateUserRequest(username=username, password=PASSWORD)
    )
    session = await stub.CreateSession(
        users_service_pb2.CreateSessionRequest(username=username, password=PASSWORD)
    )
    return Account(user.id, username, session.access_token)


class LiveTweets:
    """Tweets through the running tweets service, by accounts it registers."""

    def __init__(self, tweets: grpc.aio.Channel, users: grpc.aio.Channel) -> None:
        self._stub = tweets_service_pb2_grpc.TweetsServiceStub(tweets)
        self._users = users
        self._tokens: dict[int, str] = {}

    async def author(self) -> int:
        account = await register(self._users)
        self._tokens[account.id] = account.token
        return account.id

    def _as(self, user_id: int) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self._tokens[user_id]}"),)

    async def post(self, author_id: int) -> int:
        request = tweets_service_pb2.CreateTweetRequest(text=f"contract {uuid.uuid4().hex}")
        return (await self._stub.CreateTweet(request, metadata=self._as(author_id))).id

    async def retweet(self, user_id: int, tweet_id: int) -> int:
        request = tweets_service_pb2.RetweetTweetRequest(id=tweet_id)
        return (await self._stub.RetweetTweet(request, metadata=self._as(user_id))).id

    async def delete(self, author_id: int, tweet_id: int) -> None:
        request = tweets_service_pb2.DeleteTweetRequest(id=tweet_id)
        await self._stub.DeleteTweet(request, metadata=self._as(author_id))
