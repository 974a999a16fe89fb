"""What the graph domain needs from the outside world, as Protocols.

The adapters are ``adapters/store.Neo4jGraphStore``, the caches of ``adapters/cache.py`` and the
shared ``services.platform.users.GrpcUserDirectory``; ``wiring.py`` plugs them in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

from services.graph.model import Change, Cursor, FollowCounts, Listed, Relationship


class GraphStore(Protocol):
    async def ensure_user(self, user_id: int) -> None:
        """Gives an account its node (nothing if it has one)."""
        ...

    # Follow and unfollow: the edge, both nodes' counts and the event (in the outbox) are one
    # transaction; a follow that exists (an unfollow that does not) changes nothing.
    async def follow(self, follower_id: int, followee_id: int) -> Change: ...
    async def unfollow(self, follower_id: int, followee_id: int) -> Change: ...

    # Erasing an account: its follows, a batch per transaction, each removed as ``unfollow``
    # removes it (counts and event included); then its node, once no follow is left.
    async def remove_follows(self, user_id: int, limit: int) -> list[tuple[int, int]]:
        """Removes up to ``limit`` follows of ``user_id``, either way; the (follower, followee)
        pairs removed (none once there are none left)."""
        ...

    async def remove_user(self, user_id: int) -> bool:
        """Removes ``user_id``'s node if no follow is left; whether it has no node now."""
        ...

    async def relationship(self, source_id: int, target_id: int) -> Relationship: ...

    # Lists, newest follow first, strictly after ``before``.
    async def followers(self, user_id: int, before: Cursor | None, limit: int) -> list[Listed]: ...
    async def following(self, user_id: int, before: Cursor | None, limit: int) -> list[Listed]: ...

    async def counts(self, user_ids: Sequence[int]) -> dict[int, FollowCounts]:
        """Counts of the users that have a node."""
        ...

    async def check(self, pairs: Sequence[tuple[int, int]]) -> list[bool]:
        """Whether each (follower, followee) edge exists, in order."""
        ...

    async def following_ids(
        self, user_id: int, min_follower_count: int, after: int | None, limit: int
    ) -> list[int]:
        """Ids of followees (with at least ``min_follower_count`` followers) above ``after``,
        ascending."""
        ...

    def stream_followers(self, user_id: int, batch_size: int) -> AsyncIterator[list[int]]:
        """Every follower id, in non-empty batches, from one read at the stream's start."""
        ...

    async def friends_of_friends(self, user_id: int, limit: int) -> list[int]:
        """Users followed by the people ``user_id`` follows, most such people first; never
        ``user_id`` or someone they follow."""
        ...

    async def most_followed(self, user_id: int, limit: int) -> list[int]:
        """The most followed users, without ``user_id`` and whom they follow."""
        ...


class FollowCountSource(Protocol):
    async def counts(self, user_ids: Sequence[int]) -> dict[int, FollowCounts]:
        """Follower and following counts of the users that exist."""
        ...


class SuggestionCache(Protocol):
    async def ranked(self, user_id: int, rank: Callable[[], Awaitable[list[int]]]) -> list[int]:
        """``user_id``'s ranked suggestions as kept, or as ``rank`` ranks them (then kept)."""
        ...


class KeptCopies(Protocol):
    """What the caches keep for one user (their counts, their suggestions)."""

    async def forget(self, user_id: int) -> None:
        """Drops it all (an erased account's)."""
        ...


class FollowChanges(Protocol):
    """Counts a follow or unfollow as a change of the follower's followings and the followee's
    followers, where readers that keep what they derived from them look
    (``services/platform/caches/followings.py``); ``counts``, the follower's and the followee's
    after the change when it made one, may be kept for readers of counts."""

    async def changed(
        self,
        follower_id: int,
        followee_id: int,
        counts: tuple[FollowCounts, FollowCounts] | None = None,
    ) -> None: ...


class UserDirectory(Protocol):
    """The users service. A lookup that cannot be answered raises ``Unavailable``."""

    async def id_of(self, username: str) -> int | None: ...
    async def serialized(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Found users, BASIC view, as serialized ``chirp.users.v1.User`` messages (ready to
        send: lists are answered with them as they are)."""
        ...
