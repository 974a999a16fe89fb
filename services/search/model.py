"""The search domain's values, in plain typed Python (tweets and users are the owners'
protobuf messages, as the indexes store what their owners answer)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Candidate:
    """A tweet matching a ``top`` search, with what its rank is computed from."""

    tweet_id: int
    relevance: float
    created_ms: int
    likes: int
    retweets: int
    replies: int


@dataclass
class Changes:
    """What a batch of events touched: the tweets and users to read again from their owners
    and index as they are now, the tweets deleted, and the accounts deleted (by id, with the
    username they had: mentions are indexed by name)."""

    tweets: set[int] = field(default_factory=set)
    deleted_tweets: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)
    deleted_users: dict[int, str] = field(default_factory=dict)
