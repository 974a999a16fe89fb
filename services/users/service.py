"""The users domain (``UserService``): registration, sign-in, profiles and profile edits, in
plain typed Python.

The stores, the password hasher, the token signer and the other services are reached through
the Protocols of ``ports.py``; ``wiring.py`` fills them with the real adapters, tests may use
in-memory ones for the pure logic.

Registration claims the username first, with a lightweight transaction on the by-username
table, and only then writes the account and its ``users.created`` event: a name is never given
to two accounts. If that second write certainly failed, the claim is released so the name is
not lost; if its outcome is unknown (a timeout), the claim is kept, because a name reserved
without an account is a smaller harm than an account without its name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog

from services.platform.auth import Caller
from services.platform.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from services.platform.ids import IdGenerator, timestamp_ms
from services.platform.ratelimit import RateLimiter
from services.platform.usernames import fold, is_username
from services.users import rules
from services.users.model import (
    Counts,
    Deletion,
    NotWritten,
    Profile,
    Relationship,
    SignedIn,
    User,
    View,
)
from services.users.ports import (
    PasswordHasher,
    Revocations,
    SocialCounts,
    TokenIssuer,
    UserCache,
    UserStore,
)

log = structlog.get_logger()
_T = TypeVar("_T")

#: Ids or usernames one batch call may ask for.
BATCH_MAX = 100
STREAM_BATCH_DEFAULT = 500
STREAM_BATCH_MAX = 1000
#: The one answer to a failed sign-in, whichever part was wrong.
SIGN_IN_REFUSED = "wrong username or password"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _to_millisecond(moment: datetime) -> datetime:
    """The store keeps milliseconds: what is returned must equal what is read back later."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class UserService:
    def __init__(  # noqa: PLR0913  (one port per collaborator, all keyword-only)
        self,
        *,
        store: UserStore,
        cache: UserCache,
        passwords: PasswordHasher,
        tokens: TokenIssuer,
        social: SocialCounts,
        ids: IdGenerator,
        sign_ins: RateLimiter,
        account_limits: Sequence[RateLimiter],
        revocations: Revocations,
        username_quarantine: timedelta,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._revocations = revocations
        self._username_quarantine = username_quarantine
        self._sign_ins = sign_ins
        self._account_limits = account_limits
        self._cache = cache
        self._passwords = passwords
        self._tokens = tokens
        self._social = social
        self._ids = ids
        self._clock = clock

    async def register(self, username: str, password: str, display_name: str) -> User:
        display_name = rules.check_registration(username, password, display_name)
        password_hash = await self._passwords.hash(password)
        user_id = await self._ids.issue()
        created = datetime.fromtimestamp(timestamp_ms(user_id) / 1000, UTC)
        user = User(user_id, username, display_name, "", created, created)
        folded = fold(username)
        if not await self._store.claim_username(folded, user_id):
            raise AlreadyExists(f"the username '{username}' is taken")
        try:
            await self._store.create(user, password_hash)
        except NotWritten as error:
            await self._store.release_username(folded, user_id)
            raise Unavailable("the account could not be stored; please try again") from error
        await self._cache.put_many([user])
        await self._cache.put_ids({folded: user_id})
        log.info("user registered", user_id=user_id)
        return user

    async def sign_in(self, username: str, password: str) -> SignedIn:
        missing = [
            FieldViolation(field, "is required")
            for field, value in (("username", username), ("password", password))
            if not value
        ]
        if missing:
            raise InvalidArgument(*missing)
        user = None
        if is_username(username):
            # Attempts are counted per account name, whoever makes them, before the password
            # is checked: guessing one account's password is slow from any number of addresses.
            # (A name that cannot exist has no account to protect, and gets no counter.)
            await self._sign_ins.hit(fold(username))
            user = await self._find_by_username(username)
        password_hash = None if user is None else await self._store.get_password_hash(user.id)
        # An unknown user costs a (dummy) verification too, so timing does not tell them apart:
        # the hash dominates the time of a sign-in.
        matches = await self._passwords.verify(password_hash, password)
        if user is None or not matches:
            raise Unauthenticated(SIGN_IN_REFUSED)
        token = self._tokens.issue(user, self._clock())
        (profile,) = await self._full([user], user.id)
        return SignedIn(token, profile)

    async def issue_session(self, user_id: int) -> SignedIn:
        """A session for an account another service signed in (its password checked there):
        NOT_FOUND for an unknown id."""
        if user_id <= 0:
            raise InvalidArgument.field("user_id", "must be an account id (a positive integer)")
        user = (await self._users([user_id])).get(user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        token = self._tokens.issue(user, self._clock())
        (profile,) = await self._full([user], user.id)
        return SignedIn(token, profile)

    async def profile(self, username: str, caller: Caller | None) -> Profile:
        rules.check_username(username)
        caller_id = caller.user_id if caller else None
        folded = fold(username)
        cached = (await self._cache.get_ids([folded])).get(folded)
        if cached is not None:
            # The common case: with the id known, the account and its counts are read at once.
            users, social = await asyncio.gather(
                self._users([cached]), self._social_of([cached], caller_id)
            )
            if cached in users:
                return _profiles([users[cached]], *social)[0]
        user = await self._find_by_username(username)
        if user is None:
            raise NotFound(f"there is no user '{username}'")
        (profile,) = await self._full([user], caller_id)
        return profile

    async def own_profile(self, caller: Caller) -> Profile:
        (profile,) = await self._full([await self._own(caller)], caller.user_id)
        return profile

    async def update_profile(
        self, caller: Caller, mask_paths: Sequence[str], values: Mapping[str, str]
    ) -> Profile:
        changes = rules.profile_changes(mask_paths, values)
        # From the store, not the cache: what changed is decided against what is stored.
        user = await self._own(caller, from_store=True)
        changed = [field for field, value in changes.items() if getattr(user, field) != value]
        if changed:
            user = replace(
                user,
                display_name=changes.get("display_name", user.display_name),
                bio=changes.get("bio", user.bio),
                update_time=max(_to_millisecond(self._clock()), user.update_time),
            )
            await self._store.update_profile(user, changed)
            await self._cache.put_many([user])
            log.info("profile updated", user_id=user.id, fields=changed)
        (profile,) = await self._full([user], caller.user_id)
        return profile

    async def delete_account(self, caller: Caller, password: str) -> None:
        """Deletes the caller's account once its password is given again (counted as a sign-in
        attempt, so it cannot be guessed through here either). The account's row goes, its
        username is quarantined, its sessions are revoked, and ``users.deleted`` has every
        service erase what it holds of the person."""
        if not password:
            raise InvalidArgument.field("password", "is required to delete the account")
        user = await self._own(caller, from_store=True)
        await self._sign_ins.hit(fold(user.username))
        if not await self._passwords.verify(await self._store.get_password_hash(user.id), password):
            raise InvalidArgument.field("password", "does not match the account's password")
        now = _to_millisecond(self._clock())
        deletion = Deletion(
            time=now,
            username_released=now + self._username_quarantine,
            sessions_revoked=now + self._tokens.ttl,
        )
        await self._store.delete(user, deletion)
        await self._revocations.revoke({user.id: deletion.sessions_revoked})
        await self._cache.forget(user)
        # The account's usage counters (expiring with their windows anyway).
        await asyncio.gather(
            self._sign_ins.forget(fold(user.username)),
            *(limit.forget(str(user.id)) for limit in self._account_limits),
        )
        log.info("account deleted", user_id=user.id)

    async def reassert_revocations(self) -> None:
        """Writes every revocation in force into the list the services read (which Redis may
        have lost)."""
        async for batch in self._store.revocations():
            await self._revocations.revoke(batch)

    async def get_many(
        self, user_ids: Sequence[int], view: View, caller: Caller | None
    ) -> list[Profile]:
        if len(user_ids) > BATCH_MAX:
            raise InvalidArgument.field("ids", f"at most {BATCH_MAX} per call")
        wanted = _distinct(user_ids)
        found = await self._users([user_id for user_id in wanted if user_id > 0])
        return await self._view(
            [found[user_id] for user_id in wanted if user_id in found], view, caller
        )

    async def get_many_by_username(
        self, usernames: Sequence[str], view: View, caller: Caller | None
    ) -> list[Profile]:
        if len(usernames) > BATCH_MAX:
            raise InvalidArgument.field("usernames", f"at most {BATCH_MAX} per call")
        # Checked before folding: "Straße" is no username, though it folds to "strasse".
        wanted = _distinct([fold(name) for name in usernames if is_username(name)])
        found = await self._by_usernames(wanted)
        return await self._view([found[name] for name in wanted if name in found], view, caller)

    async def all_users(self, batch_size: int) -> AsyncIterator[list[User]]:
        if not 0 <= batch_size <= STREAM_BATCH_MAX:
            raise InvalidArgument.field(
                "batch_size", f"must be between 1 and {STREAM_BATCH_MAX} (0 means default)"
            )
        async for batch in self._store.scan(batch_size or STREAM_BATCH_DEFAULT):
            yield batch

    async def _own(self, caller: Caller, *, from_store: bool = False) -> User:
        wanted = [caller.user_id]
        found = await (self._store.get_many(wanted) if from_store else self._users(wanted))
        if caller.user_id not in found:
            # A valid token for an account that does not exist: signed by a foreign key pair
            # that was trusted, or the store lost the account. Either way, not a session.
            raise Unauthenticated("the account of this access token does not exist")
        return found[caller.user_id]

    async def _find_by_username(self, username: str) -> User | None:
        folded = fold(username)
        return (await self._by_usernames([folded])).get(folded)

    async def _users(self, user_ids: Sequence[int]) -> dict[int, User]:
        """Read through the cache: misses come from the store and are cached."""
        found = await self._cache.get_many(user_ids)
        missing = [user_id for user_id in user_ids if user_id not in found]
        if missing:
            loaded = await self._store.get_many(missing)
            await self._cache.put_many(list(loaded.values()))
            found.update(loaded)
        return found

    async def _by_usernames(self, folded: Sequence[str]) -> dict[str, User]:
        ids = await self._cache.get_ids(folded)
        missing = [name for name in folded if name not in ids]
        loaded = await self._store.find_ids(missing) if missing else {}
        users = await self._users([*ids.values(), *loaded.values()])
        # Only names whose account exists are cached: a claim can still be released.
        await self._cache.put_ids({name: id_ for name, id_ in loaded.items() if id_ in users})
        by_name = {**ids, **loaded}
        return {name: users[by_name[name]] for name in folded if by_name.get(name) in users}

    async def _view(
        self, users: Sequence[User], view: View, caller: Caller | None
    ) -> list[Profile]:
        if view is View.FULL:
            return await self._full(users, caller.user_id if caller else None)
        return [Profile(user, Counts()) for user in users]

    async def _full(self, users: Sequence[User], caller_id: int | None) -> list[Profile]:
        return _profiles(users, *await self._social_of([user.id for user in users], caller_id))

    async def _social_of(
        self, user_ids: Sequence[int], caller_id: int | None
    ) -> tuple[dict[int, Counts], dict[int, Relationship]]:
        """The users' counts, and their relationships to the caller (none to themselves)."""
        others = [user_id for user_id in user_ids if user_id != caller_id]
        return await asyncio.gather(
            self._social.counts(user_ids),
            self._social.relationships(caller_id, others)
            if caller_id is not None and others
            else _nothing(),
        )


def _profiles(
    users: Sequence[User], counts: dict[int, Counts], relationships: dict[int, Relationship]
) -> list[Profile]:
    return [
        Profile(user, counts.get(user.id, Counts()), relationships.get(user.id)) for user in users
    ]


async def _nothing() -> dict[int, Relationship]:
    return {}


def _distinct(values: Sequence[_T]) -> list[_T]:
    """Each value once, in the order of its first appearance."""
    return list(dict.fromkeys(values))
