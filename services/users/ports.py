"""What the users domain needs from the outside world, as Protocols.

The adapters are in ``adapters/``: ``store.CassandraUserStore``, ``cache.RedisUserCache``,
``passwords.Argon2Passwords``, ``tokens.JwtIssuer`` and ``clients.GrpcSocialCounts``;
``wiring.py`` plugs them in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from services.users.model import (
    Counts,
    Deletion,
    IssuedToken,
    Record,
    Relationship,
    Section,
    User,
)


class UserStore(Protocol):
    async def claim_username(self, username_folded: str, user_id: int) -> bool:
        """Atomically takes the name for ``user_id``; False if someone else holds it (True when
        ``user_id`` does already: a claim tried again after a timeout that had landed)."""
        ...

    async def release_username(self, username_folded: str, user_id: int) -> None:
        """Gives the name back, only if ``user_id`` still holds it."""
        ...

    async def create(self, user: User, password_hash: str) -> None:
        """Writes the account and its ``users.created`` event together; raises ``NotWritten``
        when certainly nothing was written."""
        ...

    async def update_profile(self, user: User, changed: Sequence[str]) -> None:
        """Writes the ``changed`` fields of ``user`` and its ``users.updated`` event together."""
        ...

    async def delete(self, user: User, deletion: Deletion) -> None:
        """Removes the account and writes, together with that, its ``users.deleted`` event,
        the quarantine of its username and the revocation of its sessions."""
        ...

    def revocations(self) -> AsyncIterator[dict[int, datetime]]:
        """The revocations still in force (account id: when its last token expires), in
        batches."""
        ...

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]: ...

    async def find_ids(self, usernames_folded: Sequence[str]) -> dict[str, int]: ...

    async def get_password_hash(self, user_id: int) -> str | None: ...

    def scan(self, batch_size: int) -> AsyncIterator[list[User]]:
        """Every account, in batches of at most ``batch_size``, in no particular order."""
        ...


class UserCache(Protocol):
    """BASIC users by id, and ids by folded username; misses and failures are both misses."""

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]: ...

    async def put_many(self, users: Sequence[User]) -> None:
        """Caches ``users`` unless a newer version of one is cached already."""
        ...

    async def get_ids(self, usernames_folded: Sequence[str]) -> dict[str, int]: ...

    async def put_ids(self, ids: Mapping[str, int]) -> None: ...

    async def forget(self, user: User) -> None:
        """Drops the deleted account's entries, and keeps a fill that read it before the delete
        from caching it again."""
        ...


class Revocations(Protocol):
    """The list of revoked accounts every process checks tokens against
    (``services/platform/revocations.py``)."""

    async def revoke(self, until: Mapping[int, datetime]) -> None: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if ``password`` matches; with no hash, does the same work and returns False."""
        ...


class TokenIssuer(Protocol):
    #: How long an issued token is accepted.
    ttl: timedelta

    def issue(self, user: User, now: datetime) -> IssuedToken: ...


class SocialCounts(Protocol):
    """Counts and relationships owned by the graph and tweets services. A user left out of an
    answer could not be answered for (an owner is down): shown with zero counts and no
    relationship, and nothing about them is kept."""

    async def counts(self, user_ids: Sequence[int]) -> dict[int, Counts]: ...

    async def relationships(
        self, caller_id: int, user_ids: Sequence[int]
    ) -> dict[int, Relationship]: ...


class AccountData(Protocol):
    """What the other services hold of an account, for its archive."""

    def pages(self, section: Section, username: str) -> AsyncIterator[list[Record]]:
        """The section's items, page by page, in the order the API lists them."""
        ...

    async def photo(self, media_id: int) -> tuple[str, bytes] | None:
        """The full-size photo's content type and bytes; None if it is gone or no photo."""
        ...
