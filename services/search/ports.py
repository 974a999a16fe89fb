"""What the search domain needs from other services, as Protocols (gRPC adapters in
``adapters/clients.py``). The indexes are Tantivy itself (``adapters/index.py``), tested on disk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2

from services.platform.caches.tweet_cache import ReadyTweet


class Tweets(Protocol):
    async def batch_get(self, ids: Sequence[int]) -> list[tweet_pb2.Tweet]:
        """Readable tweets in request order (any number of ids); deleted and unknown ids are
        left out."""
        ...

    async def ready(self, ids: Sequence[int]) -> list[ReadyTweet]:
        """The same, serialized as sent (from the tweet cache where it has them)."""
        ...

    def stream(self) -> AsyncIterator[list[tweet_pb2.Tweet]]:
        """Every tweet and reply (no retweets), in batches, in no particular order."""
        ...


class Users(Protocol):
    async def batch_get(self, ids: Sequence[int]) -> list[user_pb2.User]:
        """Users in request order (BASIC view, any number of ids); unknown ids left out."""
        ...

    def stream(self) -> AsyncIterator[list[user_pb2.User]]:
        """Every account, in batches."""
        ...


class Graph(Protocol):
    async def follower_counts(self, ids: Sequence[int]) -> dict[int, int]: ...
