"""What the Mastodon API needs from the outside world, as Protocols (adapters in ``adapters/``:
``store.CassandraOAuthStore``, ``clients.GrpcAccounts`` and ``clients.GrpcChirp``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from chirp.media.v1 import media_pb2
from chirp.search.v1 import trend_pb2
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2

from services.mastodon.model import App, Grant, Token


class OAuthStore(Protocol):
    """Apps, authorization codes and access tokens. Secrets, codes and tokens are stored only
    as their SHA-256 hashes."""

    async def add_app(self, app: App, secret_hash: str) -> None: ...

    async def app(self, client_id: str) -> tuple[App, str] | None:
        """The app and its secret's hash; None if unknown."""
        ...

    async def add_grant(self, code_hash: str, grant: Grant, ttl_seconds: int) -> None: ...

    async def take_grant(self, code_hash: str) -> Grant | None:
        """The grant of a code, removed as it is read: of two concurrent takes one gets it."""
        ...

    async def add_token(self, token_hash: str, token: Token) -> None: ...

    async def token(self, token_hash: str) -> Token | None: ...

    async def revoke(self, token_hash: str) -> None: ...

    async def remove_account(self, user_id: int) -> list[str]:
        """Removes every token and authorization code of the account (nothing when it has
        none left); the hashes of the tokens removed."""
        ...


class Accounts(Protocol):
    """The users service: who an account is, and sessions for it."""

    async def sign_in(self, username: str, password: str) -> int:
        """The account's id; ``Unauthenticated`` for a wrong username or password."""
        ...

    async def register(self, username: str, password: str, display_name: str) -> int:
        """A new account's id (the users service's rules and refusals apply)."""
        ...

    async def session(self, user_id: int) -> tuple[str, datetime]:
        """A Chirp session token for the account, and when it expires."""
        ...


class Chirp(Protocol):
    """Chirp's services, called with the caller's session token (``session``; empty for an
    anonymous read). Their refusals arrive as domain errors (``services/platform/calls.py``)."""

    async def me(self, session: str) -> user_pb2.User: ...

    async def update_me(
        self, session: str, display_name: str | None, bio: str | None
    ) -> user_pb2.User:
        """The caller's profile with what is given changed (None: left as it is)."""
        ...

    async def users(self, ids: Sequence[int], session: str) -> dict[int, user_pb2.User]:
        """Full profiles (counts, and the caller's relationship with a session), by id."""
        ...

    async def user(self, username: str, session: str) -> user_pb2.User: ...

    async def post(
        self, session: str, text: str, reply_to_id: int, media_ids: Sequence[int], key: str
    ) -> tweet_pb2.Tweet: ...

    async def tweet(self, tweet_id: int, session: str) -> tweet_pb2.Tweet: ...

    async def delete(self, tweet_id: int, session: str) -> None: ...

    async def like(self, tweet_id: int, session: str, *, undo: bool) -> tweet_pb2.Tweet: ...

    async def retweet(self, tweet_id: int, session: str, *, undo: bool) -> tweet_pb2.Tweet: ...

    async def home(
        self, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]: ...

    async def user_tweets(
        self, username: str, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]: ...

    async def follow(self, username: str, session: str, *, undo: bool) -> tuple[bool, bool]:
        """The caller's relationship to the account after it: (following, followed by)."""
        ...

    async def edit(self, tweet_id: int, text: str, session: str) -> tweet_pb2.Tweet: ...

    async def versions(self, tweet_id: int, session: str) -> list[tweet_pb2.TweetVersion]:
        """Every earlier version of a tweet, newest first."""
        ...

    async def replies(
        self, tweet_id: int, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]: ...

    async def likers(
        self, tweet_id: int, session: str, size: int, page_token: str
    ) -> tuple[list[user_pb2.User], str]: ...

    async def retweeters(
        self, tweet_id: int, session: str, size: int, page_token: str
    ) -> tuple[list[user_pb2.User], str]: ...

    async def liked(
        self, username: str, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]: ...

    async def follows(
        self, username: str, session: str, size: int, page_token: str, *, followers: bool
    ) -> tuple[list[user_pb2.User], str]:
        """A page of the account's followers, or of who it follows."""
        ...

    async def suggestions(self, session: str, size: int) -> list[user_pb2.User]: ...

    async def search_tweets(
        self, q: str, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]: ...

    async def search_users(
        self, q: str, session: str, size: int, page_token: str
    ) -> tuple[list[user_pb2.User], str]: ...

    async def trends(self, size: int) -> list[trend_pb2.Trend]: ...

    async def upload(
        self, session: str, data: bytes, content_type: str, description: str
    ) -> media_pb2.Media: ...

    async def media(self, media_id: int, session: str) -> media_pb2.Media: ...

    async def public(
        self, session: str, size: int, page_token: str
    ) -> tuple[list[tweet_pb2.Tweet], str]:
        """Everyone's newest tweets (as searchable: within a second of being posted)."""
        ...

    def home_changes(self, session: str) -> AsyncIterator[tuple[list[tweet_pb2.Tweet], list[int]]]:
        """The caller's home timeline as it changes: (tweets that entered, ids that left), an
        empty change now and then while nothing happens."""
        ...

    async def engagements(
        self, tweet_ids: Sequence[int], session: str
    ) -> tuple[set[int], set[int]]:
        """Which of the tweets the caller liked, and which they retweeted."""
        ...
