"""In-memory adapters of the users ports, for the domain's unit tests (each is held to the real
adapter's behaviour by its contract suite under tests/contracts/users)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from services.platform.ids import Snowflake
from services.platform.ratelimit import Limit
from services.platform.usernames import fold
from services.users.model import Counts, Deletion, IssuedToken, Relationship, User
from services.users.service import UserService
from tests.limiting import CountingLimiter


def _to_millisecond(moment: datetime) -> datetime:
    """What a Cassandra ``timestamp`` keeps of a moment."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass
class MemoryStore:
    names: dict[str, int] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    hashes: dict[int, str] = field(default_factory=dict)
    events: list[tuple[str, User, tuple[str, ...]]] = field(default_factory=list)
    #: Names held after their account's deletion, and until when.
    quarantined: dict[str, datetime] = field(default_factory=dict)
    revoked: dict[int, datetime] = field(default_factory=dict)
    fail_create: Exception | None = None
    reads: int = 0

    async def claim_username(self, username_folded: str, user_id: int) -> bool:
        """As the Cassandra adapter's ``IF NOT EXISTS``: a held name is refused to anyone but its
        holder (a claim tried again, whose first try had landed unseen, holds it)."""
        holder = self.names.setdefault(username_folded, user_id)
        return holder == user_id

    async def release_username(self, username_folded: str, user_id: int) -> None:
        if self.names.get(username_folded) == user_id:
            del self.names[username_folded]

    async def create(self, user: User, password_hash: str) -> None:
        if self.fail_create is not None:
            raise self.fail_create
        self.users[user.id] = replace(
            user,
            create_time=_to_millisecond(user.create_time),
            update_time=_to_millisecond(user.update_time),
        )
        self.hashes[user.id] = password_hash
        self.events.append(("users.created", user, ()))

    async def update_profile(self, user: User, changed: Sequence[str]) -> None:
        stored = self.users[user.id]
        self.users[user.id] = replace(
            stored,
            update_time=_to_millisecond(user.update_time),
            **{name: getattr(user, name) for name in changed},
        )
        self.events.append(("users.updated", user, tuple(changed)))

    async def delete(self, user: User, deletion: Deletion) -> None:
        """As the Cassandra adapter: the name stays claimed (by the deleted id) until released."""
        del self.users[user.id]
        del self.hashes[user.id]
        self.quarantined[fold(user.username)] = deletion.username_released
        self.revoked[user.id] = deletion.sessions_revoked
        self.events.append(("users.deleted", user, ()))

    async def revocations(self) -> AsyncIterator[dict[int, datetime]]:
        yield dict(self.revoked)

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        self.reads += 1
        return {user_id: self.users[user_id] for user_id in user_ids if user_id in self.users}

    async def find_ids(self, usernames_folded: Sequence[str]) -> dict[str, int]:
        return {name: self.names[name] for name in usernames_folded if name in self.names}

    async def get_password_hash(self, user_id: int) -> str | None:
        return self.hashes.get(user_id)

    async def scan(self, batch_size: int) -> AsyncIterator[list[User]]:
        users = list(self.users.values())
        for start in range(0, len(users), batch_size):
            yield users[start : start + batch_size]


@dataclass
class MemoryCache:
    users: dict[int, User] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    forgotten: set[int] = field(default_factory=set)

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        return {user_id: self.users[user_id] for user_id in user_ids if user_id in self.users}

    async def put_many(self, users: Sequence[User]) -> None:
        """As the Redis cache: never over a newer version, nor a forgotten account."""
        for user in users:
            if user.id in self.forgotten:
                continue
            cached = self.users.get(user.id)
            if cached is None or cached.update_time <= user.update_time:
                self.users[user.id] = user

    async def get_ids(self, usernames_folded: Sequence[str]) -> dict[str, int]:
        return {name: self.ids[name] for name in usernames_folded if name in self.ids}

    async def put_ids(self, ids: Mapping[str, int]) -> None:
        self.ids.update(ids)

    async def forget(self, user: User) -> None:
        self.forgotten.add(user.id)
        self.users.pop(user.id, None)
        self.ids.pop(fold(user.username), None)


@dataclass
class MemoryRevocations:
    until: dict[int, datetime] = field(default_factory=dict)

    async def revoke(self, until: Mapping[int, datetime]) -> None:
        self.until.update(until)


@dataclass
class PlainPasswords:
    """Reversible "hashes", recording what was verified against what."""

    verified: list[str | None] = field(default_factory=list)

    async def hash(self, password: str) -> str:
        return f"hashed:{password}"

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verified.append(password_hash)
        return password_hash == f"hashed:{password}"


class Tokens:
    ttl = timedelta(hours=1)

    def issue(self, user: User, now: datetime) -> IssuedToken:
        return IssuedToken(f"token-for-{user.id}", now + self.ttl)


@dataclass
class Social:
    follows: set[tuple[int, int]] = field(default_factory=set)
    tweets: dict[int, int] = field(default_factory=dict)

    async def counts(self, user_ids: Sequence[int]) -> dict[int, Counts]:
        return {
            user_id: Counts(
                follower_count=sum(1 for _, followee in self.follows if followee == user_id),
                following_count=sum(1 for follower, _ in self.follows if follower == user_id),
                tweet_count=self.tweets.get(user_id, 0),
            )
            for user_id in user_ids
        }

    async def relationships(
        self, caller_id: int, user_ids: Sequence[int]
    ) -> dict[int, Relationship]:
        return {
            user_id: Relationship(
                (caller_id, user_id) in self.follows, (user_id, caller_id) in self.follows
            )
            for user_id in user_ids
        }


NOW = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
PASSWORD = "correct horse"  # noqa: S105  (a test account's)

QUARANTINE = timedelta(days=30)
SIGN_INS = Limit("sign_ins", "log-in attempts for this username", 3, 300)


@dataclass
class World:
    accounts: UserService
    store: MemoryStore
    cache: MemoryCache
    passwords: PlainPasswords
    social: Social
    sign_ins: CountingLimiter
    revocations: MemoryRevocations
    posts: CountingLimiter


def new_world() -> World:
    """A ``UserService`` on in-memory adapters, with those adapters."""
    store, cache, passwords, social = MemoryStore(), MemoryCache(), PlainPasswords(), Social()
    sign_ins = CountingLimiter(SIGN_INS)
    posts = CountingLimiter()
    revocations = MemoryRevocations()
    now_ms = int(NOW.timestamp() * 1000)
    accounts = UserService(
        store=store,
        cache=cache,
        passwords=passwords,
        tokens=Tokens(),
        social=social,
        ids=Snowflake(7, clock=lambda: now_ms),
        sign_ins=sign_ins,
        account_limits=[posts],
        revocations=revocations,
        username_quarantine=QUARANTINE,
        clock=lambda: NOW,
    )
    return World(accounts, store, cache, passwords, social, sign_ins, revocations, posts)
