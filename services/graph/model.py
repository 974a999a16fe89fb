"""The social graph's values, in plain typed Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Relationship:
    """How ``source_id`` relates to ``target_id``."""

    source_id: int
    target_id: int
    following: bool
    followed_by: bool


@dataclass(frozen=True)
class FollowCounts:
    user_id: int
    follower_count: int = 0
    following_count: int = 0
    #: How many follows and unfollows have moved these counts: which of two readings is the
    #: later (for caches; not part of the counts' value).
    version: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Change:
    """The relationship after a follow or unfollow, whether it changed anything (only a change
    moves the counts and publishes an event), and if it did, the follower's and the followee's
    counts right after it."""

    relationship: Relationship
    changed: bool
    counts: tuple[FollowCounts, FollowCounts] | None = None


@dataclass(frozen=True)
class Cursor:
    """A position in a list of follows: newest first by (create_time, other user's id)."""

    create_time: int
    user_id: int


@dataclass(frozen=True)
class Listed:
    """One row of a followers or following list: the other user and when the follow began."""

    user_id: int
    create_time: int

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.create_time, self.user_id)
