"""What the search domain needs from the outside world, as Protocols: the other services (gRPC
adapters in ``adapters/clients.py``) and its two indexes (Tantivy, ``adapters/index.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Protocol

from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2

from services.platform.caches.tweet_cache import ReadyTweet
from services.search.model import Candidate
from services.search.query import TweetQuery


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


class Index(Protocol):
    """What both indexes do: writes become searchable at ``commit``; a rebuild fills a new
    index beside the live one (which keeps taking writes) and replaces it when finished."""

    async def commit(self) -> None: ...

    async def begin_rebuild(self) -> None:
        """ABORTED if a rebuild is running already."""
        ...

    async def finish_rebuild(self) -> None: ...

    async def abandon_rebuild(self) -> None: ...


class TweetIndex(Index, Protocol):
    async def upsert(
        self,
        tweets: Sequence[tweet_pb2.Tweet],
        deletes: Iterable[int] = (),
        authors: Iterable[int] = (),
    ) -> None:
        """Indexes ``tweets`` as they are (replacing what was there), drops ``deletes`` and
        every tweet by ``authors`` (one delete each, after the upserts: a tweet of theirs among
        ``tweets`` goes too; during a rebuild, the scan's copies of their tweets are not
        added)."""
        ...

    async def mentioning(self, usernames: Iterable[str]) -> list[int]:
        """Ids of every tweet that mentions any of ``usernames`` (as written: compared folded)."""
        ...

    async def add_rebuilt(self, tweets: Sequence[tweet_pb2.Tweet]) -> int: ...

    async def latest(self, query: TweetQuery, before_id: int | None, limit: int) -> list[int]:
        """Ids of matching tweets below ``before_id``, newest first."""
        ...

    async def candidates(self, query: TweetQuery) -> list[Candidate]:
        """The best matches by relevance (a bounded pool), for ``top`` to rank."""
        ...


class UserIndex(Index, Protocol):
    async def upsert(
        self, users: Sequence[tuple[user_pb2.User, int]], deletes: Iterable[int] = ()
    ) -> None:
        """Indexes each user with their follower count; drops ``deletes``."""
        ...

    async def add_rebuilt(self, users: Sequence[tuple[user_pb2.User, int]]) -> int: ...

    async def search(self, words: Sequence[str], limit: int) -> list[int]:
        """Ids of users matching every word as a prefix, most followed first."""
        ...
