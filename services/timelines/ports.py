"""What the timelines domain needs from the world, as Protocols (adapters: ``store.py``,
``clients.py``; in-memory ones in the unit tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from chirp.tweets.v1 import tweet_pb2


class Graph(Protocol):
    async def follower_count(self, user_id: int) -> int: ...

    def stream_followers(self, user_id: int, batch_size: int) -> AsyncIterator[list[int]]: ...

    async def following_ids(self, user_id: int, min_follower_count: int) -> list[int]:
        """Everyone ``user_id`` follows with at least that many followers (all pages)."""
        ...


class Tweets(Protocol):
    async def recent_ids(self, author_ids: Sequence[int], max_results: int) -> list[int]:
        """Newest first, merged across the authors, tweets and retweets."""
        ...

    async def batch_get(self, ids: Sequence[int]) -> list[tweet_pb2.Tweet]:
        """Readable tweets in request order; deleted/unknown ids (and retweets of deleted
        tweets) are left out. At most 100 ids."""
        ...


class TimelineStore(Protocol):
    async def read(self, user_id: int, before: int | None, limit: int) -> tuple[list[int], bool]:
        """Newest first, ids < before; and whether the timeline exists. Reading marks the
        owner active (keeps the timeline alive for the active window)."""
        ...

    async def newer(self, user_id: int, after: int, limit: int) -> list[int]:
        """The newest ``limit`` ids > after, newest first (the stream's catch-up)."""
        ...

    async def store(self, user_id: int, ids: Sequence[int]) -> None:
        """Creates (or merges into) the timeline, trims it and marks the owner active."""
        ...

    async def push(self, user_ids: Sequence[int], ids: Sequence[int]) -> int:
        """Adds ``ids`` to the timelines of those users that have one (others are rebuilt on
        their next read); trims each; tells live readers. Returns timelines written."""
        ...

    async def remove(self, user_ids: Sequence[int], ids: Sequence[int]) -> None: ...

    async def cached_recent(
        self, author_ids: Sequence[int]
    ) -> tuple[dict[int, list[int]], dict[int, str]]:
        """Cached recent ids of (celebrity) authors; for the others, a stamp of what the
        cache held, to give back to ``cache_recent``."""
        ...

    async def cache_recent(self, recent: dict[int, list[int]], stamps: dict[int, str]) -> None:
        """Caches each author's ids only if the cache still holds what its stamp says (so a
        fill that raced ``forget_recent`` never puts stale ids back)."""
        ...

    async def forget_recent(self, author_id: int) -> None: ...
