"""What the timelines domain needs from the world, as Protocols (adapters: ``adapters/store.py``,
``adapters/live.py``, ``adapters/clients.py``; in-memory ones in the unit tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from services.platform.caches.tweet_cache import ReadyTweet
from services.timelines.model import LiveChange


class Graph(Protocol):
    async def follower_count(self, user_id: int) -> int: ...

    def stream_followers(self, user_id: int, batch_size: int) -> AsyncIterator[list[int]]: ...

    async def following_ids(self, user_id: int, min_follower_count: int) -> list[int]:
        """Everyone ``user_id`` follows with at least that many followers (all pages)."""
        ...


class FanoutParts(Protocol):
    """Hands a part of a large fanout to whichever worker is free (``adapters/parts.py``)."""

    async def share(self, tweet_id: int, author_id: int, follower_ids: Sequence[int]) -> None:
        """Returns once the part is kept (a crash after it loses nothing)."""
        ...


class Tweets(Protocol):
    async def recent_ids(self, author_ids: Sequence[int], max_results: int) -> list[int]:
        """Newest first, merged across the authors, tweets and retweets."""
        ...

    async def newest_ids(self, author_ids: Sequence[int]) -> list[Sequence[int]]:
        """Each author's newest ids (as many as a home timeline holds), newest first, in
        request order: a post shows in them at once."""
        ...

    async def ready(self, ids: Sequence[int]) -> list[ReadyTweet]:
        """Readable tweets in request order, serialized as sent; deleted/unknown ids (and
        retweets of deleted tweets) are left out. At most 100 ids."""
        ...


class IdLists(Protocol):
    """Lists of ids by owner. A fill writes an owner's list only if nothing changed since the
    read it is based on (the stamp that read gave for it), so a fill that raced ``forget``
    never puts stale ids back."""

    async def get(self, owners: Sequence[int]) -> tuple[dict[int, list[int]], dict[int, bytes]]:
        """The lists held, and for every owner a stamp to give back to ``fill``."""
        ...

    async def fill(self, lists: dict[int, list[int]], stamps: dict[int, bytes]) -> None: ...

    async def forget(self, owners: Sequence[int]) -> None: ...


class CountedIdLists(IdLists, Protocol):
    """Id lists derived from something graph counts the changes of
    (``services/platform/caches/followings.py``)."""

    async def kept(self, owner: int) -> tuple[list[int] | None, bytes, int]:
        """In one read: the list kept for ``owner`` (if any), the stamp to fill it with, and
        how many times what it derives from has changed."""
        ...


class TimelineStore(Protocol):
    async def read(self, user_id: int, before: int | None, limit: int) -> tuple[list[int], bool]:
        """Newest first, ids < before; and whether the timeline exists. Reading marks the
        owner active (keeps the timeline alive for the active window)."""
        ...

    async def store(self, user_id: int, ids: Sequence[int]) -> None:
        """Creates (or merges into) the timeline, trims it and marks the owner active."""
        ...

    async def push(self, user_ids: Sequence[int], ids: Sequence[int]) -> int:
        """Adds ``ids`` to the timelines of those users that have one (others are rebuilt on
        their next read); trims each; tells live readers. Returns timelines written."""
        ...

    async def remove(self, user_ids: Sequence[int], ids: Sequence[int]) -> None: ...

    @property
    def celebrities_followed(self) -> CountedIdLists:
        """Each reader's followed celebrities, so a read need not ask graph: behind the count
        of changes of the reader's followings; forgotten when the reader follows or unfollows,
        and for all followers of an author crossing the threshold."""
        ...

    @property
    def followers(self) -> CountedIdLists:
        """Each author's follower count and (unless a celebrity) followers, so a fanout need
        not ask graph: behind the count of changes of the author's followers; forgotten when
        anyone follows or unfollows the author."""
        ...

    async def mark_celebrity(self, author_id: int, *, is_celebrity: bool) -> bool:
        """Records whether the author is a celebrity now; True if that changed."""
        ...

    async def erase(self, user_id: int) -> None:
        """Drops everything kept under a (deleted) account: its timeline, the celebrities it
        follows, its followers, its celebrity mark. Idempotent."""
        ...


class LiveFeed(Protocol):
    async def next(self, wait_seconds: float) -> LiveChange | None:
        """The timeline's next change; None if none came within ``wait_seconds`` (or on a
        message that was not a change)."""
        ...


class LiveUpdates(Protocol):
    def follow(self, user_id: int) -> AbstractAsyncContextManager[LiveFeed]:
        """Every change of ``user_id``'s home timeline from the moment this is entered."""
        ...
