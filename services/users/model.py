"""The users domain's values, in plain typed Python: accounts, their counts and views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any


@dataclass(frozen=True)
class User:
    """An account as the users store holds it (the BASIC view), without its password hash."""

    id: int
    username: str
    display_name: str
    bio: str
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class Counts:
    follower_count: int = 0
    following_count: int = 0
    tweet_count: int = 0


@dataclass(frozen=True)
class Relationship:
    """How the user shown relates to the caller looking at them."""

    caller_follows: bool
    follows_caller: bool


@dataclass(frozen=True)
class Profile:
    """The FULL view: the account, its counts, and its relationship to the caller (if any)."""

    user: User
    counts: Counts
    relationship: Relationship | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expire_time: datetime


@dataclass(frozen=True)
class SignedIn:
    token: IssuedToken
    profile: Profile


@dataclass(frozen=True)
class Deletion:
    """An account's deletion: when, until when its username stays reserved, and until when its
    sessions are refused (the expiry of the last token issued before it)."""

    time: datetime
    username_released: datetime
    sessions_revoked: datetime


class Section(Enum):
    """The lists of an account's archive, each owned by another service."""

    TWEETS = "tweets"
    LIKES = "likes"
    FOLLOWING = "following"
    FOLLOWERS = "followers"


@dataclass(frozen=True)
class Record:
    """One item of an archive's list: its JSON (the API's own), and the photos it carries."""

    json: dict[str, Any]
    photo_ids: tuple[int, ...] = ()


class View(Enum):
    BASIC = "basic"
    FULL = "full"


class NotWritten(Exception):
    """The store refused a write: certainly nothing of it was stored."""
