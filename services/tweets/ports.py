"""What the tweets domain needs from the outside world, as Protocols.

The adapters (``adapters/``) are ``store.CassandraTweetStore``, ``cache.RedisTweetCache``,
``clients.UserAuthors`` and ``clients.GrpcMediaLibrary``; ``wiring.py`` plugs them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from services.platform.caches.tweet_cache import CacheLookup
from services.platform.caches.user_timelines import KeptIds
from services.tweets.model import (
    Attachment,
    Author,
    Counts,
    Event,
    Tweet,
    TweetCreated,
    TweetDeleted,
    TweetLiked,
    TweetRetweeted,
    TweetUnliked,
    TweetUnretweeted,
    TweetView,
    Version,
)
from services.tweets.timeline import TimelineReader

#: A like, or a retweet: both are one per (tweet, user), claimed before they count.
Engagement = Literal["like", "retweet"]


@dataclass(frozen=True)
class Claim:
    """Who holds an engagement: ``ref`` is the like id or the retweet id; ``new`` says this
    request's claim took it, and so is the one that counts it."""

    ref: str
    new: bool


@dataclass(frozen=True)
class Listed:
    """One row of a like listing: ``like_id`` orders it (time-based UUID)."""

    like_id: str
    tweet_id: int
    user_id: int


class TweetStore(TimelineReader, Protocol):
    # Reads. Deleted tweets are returned with ``deleted`` set; unknown ids are absent.
    async def tweets(self, ids: Sequence[int]) -> dict[int, Tweet]: ...
    async def counts(self, ids: Sequence[int]) -> dict[int, Counts]: ...
    async def user_tweet_counts(self, user_ids: Sequence[int]) -> dict[int, int]: ...
    async def versions(self, tweet_id: int) -> list[Version]:
        """Earlier versions, newest first."""
        ...

    async def reply_ids(self, parent_id: int, after: int | None, limit: int) -> list[int]:
        """Direct replies, oldest first, after ``after``."""
        ...

    async def likers(self, tweet_id: int, before: str | None, limit: int) -> list[Listed]: ...
    async def liked(self, user_id: int, before: str | None, limit: int) -> list[Listed]: ...
    async def retweets_of(self, tweet_id: int, limit: int, after: int | None = None) -> list[Tweet]:
        """Live retweets of a tweet in the order they were made, after the retweet ``after``
        (the cleanup after a delete takes them in turns; reblogged_by pages them)."""
        ...

    async def scan(self, after: int | None, limit: int) -> tuple[list[Tweet], int | None]:
        """A slice of every stored tweet in token order, and where the next slice starts."""
        ...

    # Posting: the tweet, its timeline row, its reply/retweet index rows and its event are one
    # logged batch.
    async def idempotent_tweet(self, author_id: int, key: str) -> int | None:
        """The tweet id an idempotency key is reserved for, if it is."""
        ...

    async def claim_idempotency_key(self, author_id: int, key: str, tweet_id: int) -> int:
        """Reserves ``key`` for ``tweet_id``; returns the id that holds it."""
        ...

    async def create(self, tweet: Tweet, event: TweetCreated | TweetRetweeted) -> None: ...
    async def add_counts(
        self, tweet_id: int, *, likes: int = 0, retweets: int = 0, replies: int = 0
    ) -> None: ...
    async def add_tweet_count(self, user_id: int, delta: int) -> None: ...

    # Editing.
    async def save_version(self, version: Version) -> None: ...
    async def replace_text(self, before: Tweet, after: Tweet) -> bool:
        """Writes ``after`` if the stored tweet is still ``before`` (not edited or deleted
        since); False otherwise."""
        ...

    async def publish(self, event: Event) -> None:
        """Adds an event to the outbox on its own."""
        ...

    # Deleting: the index rows and the event in one logged batch, then the mark readers see.
    async def remove(
        self,
        tweet: Tweet,
        event: TweetDeleted | TweetUnretweeted,
        *,
        from_timeline: bool = True,
    ) -> None:
        """``from_timeline=False`` leaves the author's timeline row, for ``erase`` to remove
        last (an account's erasure walks those rows to find what is left to do)."""
        ...

    async def mark_deleted(self, tweet_id: int, when: datetime) -> bool:
        """True for the call that marked it; False if it already was."""
        ...

    # Erasing a deleted account: what is keyed by it and by its tweets, after they are deleted.
    async def erase(self, tweet: Tweet) -> None:
        """Erases a deleted tweet or undone retweet for good: an original's counters, then in
        one logged batch its row, an original's edit history and the likers, retweets and
        replies listed under it, and its author's timeline row (together, so the timeline row
        is there for as long as anything else is). The id then reads as an unknown one."""
        ...

    async def erase_user(self, user_id: int) -> None:
        """Erases the account's tweet count and its index of timeline buckets."""
        ...

    # Likes and retweets: claimed per (tweet, user), then recorded, then counted.
    async def claim(self, kind: Engagement, tweet_id: int, user_id: int, ref: str) -> Claim: ...
    async def claim_of(self, kind: Engagement, tweet_id: int, user_id: int) -> str | None:
        """The ref of the claim held, if any."""
        ...

    async def claimed(self, user_id: int, tweet_ids: Sequence[int]) -> set[tuple[Engagement, int]]:
        """(kind, tweet id) of each like and retweet of ``user_id`` among ``tweet_ids``."""
        ...

    async def release(self, kind: Engagement, tweet_id: int, user_id: int, ref: str) -> bool:
        """Removes the claim ``ref``; True for the one call that did (so it uncounts it)."""
        ...

    async def record_like(self, listed: Listed, event: TweetLiked) -> None: ...
    async def like_recorded(self, listed: Listed) -> bool:
        """Whether the like's rows (and so its event) were written."""
        ...

    async def erase_like(self, listed: Listed, event: TweetUnliked) -> None: ...


#: Each tweet's cache generation as read before the store was (b"" for none yet): see
#: ``services/tweets/adapters/cache.py``.
Lease = Mapping[int, bytes]


class TweetCache(Protocol):
    """Tweets by id as shallow views (a retweet without its original). A tombstone says the
    tweet is deleted; a miss says nothing."""

    async def get(self, ids: Sequence[int]) -> dict[int, TweetView | None]:
        """Hits only: a view, or None for a tombstone."""
        ...

    async def ready(self, ids: Sequence[int]) -> CacheLookup:
        """The entries as they are sent, retweets with their originals."""
        ...

    async def put(self, views: Sequence[TweetView]) -> None: ...
    async def bury(self, ids: Sequence[int]) -> None: ...
    async def forget(self, ids: Sequence[int]) -> Lease | None:
        """Drops the entries and voids every lease taken before; returns a lease of its own
        (a fill under it lands unless a tweet changes again), None when Redis cannot say."""
        ...

    async def lease(self, ids: Sequence[int]) -> Lease | None:
        """Taken before reading the store for ``ids``, given back to ``fill``."""
        ...

    async def fill(
        self, views: Sequence[TweetView], buried: Sequence[int], lease: Lease | None
    ) -> None:
        """Caches what the store answered, unless a write changed a tweet since ``lease``."""
        ...


class UserTimelines(Protocol):
    """The newest ids of user timelines, kept where reads find them before the store."""

    async def recent(self, user_ids: Sequence[int]) -> tuple[dict[int, KeptIds], dict[int, int]]:
        """The kept ids of those timelines whose ids are current, and every timeline's count of
        writes (to give back to ``keep``; negative when it could not be read)."""
        ...

    async def keep(self, user_id: int, writes: int, recent: KeptIds) -> None:
        """Keeps ids read from the store after ``writes`` writes."""
        ...

    async def wrote(self, user_id: int, added: int | None = None) -> None:
        """Counts a write to the user's timeline, once it and the tweet count it changes are
        stored; ``added``, the id a post or retweet added, joins the kept ids in place."""
        ...

    async def forget(self, user_id: int) -> None:
        """Drops the kept ids of the user's timeline and its count of writes (an erased
        account's, the last write to it done)."""
        ...


class UserDirectory(Protocol):
    """The users service. A lookup that cannot be answered raises ``Unavailable``."""

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Author]: ...
    async def id_of(self, username: str) -> int | None:
        """The account of a username (any case), or None."""
        ...

    async def by_usernames(self, usernames: Sequence[str]) -> dict[str, Author]:
        """Found users by folded username."""
        ...


class MediaLibrary(Protocol):
    """The media service. A call that cannot be answered raises ``Unavailable``; its refusals
    (unknown, foreign or taken photos) are raised as the same domain errors."""

    async def attach(
        self, tweet_id: int, owner_id: int, media_ids: Sequence[int]
    ) -> list[Attachment]:
        """Attaches the author's uploads to the tweet, all or none; safe to repeat."""
        ...

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Attachment]: ...
