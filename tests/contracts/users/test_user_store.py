"""``UserStore``: the in-memory fake and the Cassandra store keep the same promises."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from chirp.events.v1 import user_events_pb2

from services.platform.outbox import Outbox
from services.users.adapters.store import CassandraUserStore
from services.users.model import Deletion, User
from services.users.ports import UserStore
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.users.fakes import MemoryStore

#: A moment with microseconds, and what the store keeps of it: milliseconds.
MOMENT = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
KEPT = MOMENT.replace(microsecond=123000)
MINUTE = timedelta(minutes=1)
#: An event as the store wrote it: subject, account, fields changed.
Written = tuple[str, int, tuple[str, ...]]


@dataclass(frozen=True)
class Accounts:
    store: UserStore
    #: The events written since the last call.
    events: Callable[[], list[Written]]


def _memory(_: pytest.FixtureRequest) -> Accounts:
    store = MemoryStore()

    def events() -> list[Written]:
        written = [(subject, user.id, changed) for subject, user, changed in store.events]
        store.events.clear()
        return written

    return Accounts(store, events)


def _cassandra(request: pytest.FixtureRequest) -> Accounts:
    session = request.getfixturevalue("session")
    outbox = Outbox(session)

    def events() -> list[Written]:
        return [_written(row.subject, row.payload) for row in outbox.take()]

    return Accounts(CassandraUserStore(session, outbox), events)


def _written(subject: str, payload: bytes) -> Written:
    if subject == "users.deleted":
        return subject, user_events_pb2.UserDeletedEvent.FromString(payload).user_id, ()
    if subject == "users.created":
        return subject, user_events_pb2.UserCreatedEvent.FromString(payload).user.id, ()
    updated = user_events_pb2.UserUpdatedEvent.FromString(payload)
    return subject, updated.user.id, tuple(updated.update_mask.paths)


accounts = implementations(memory=unit(_memory), cassandra=integration(_cassandra))


def _name() -> str:
    return f"k{uuid.uuid4().hex[:12]}"


def _account() -> User:
    return User(random_user_id(), _name(), "Ada", "", MOMENT, MOMENT)


async def test_a_name_is_held_by_its_first_claim_until_its_holder_releases_it(
    accounts: Accounts,
) -> None:
    store, name = accounts.store, _name()
    first, second = random_user_id(), random_user_id()
    assert await store.claim_username(name, first)
    assert not await store.claim_username(name, second)
    assert await store.claim_username(name, first)  # its holder's again: a retry that had landed
    await store.release_username(name, second)  # not the holder: nothing changes
    assert await store.find_ids([name, _name()]) == {name: first}
    await store.release_username(name, first)
    assert await store.find_ids([name]) == {}
    assert await store.claim_username(name, second)


async def test_an_account_reads_back_to_the_millisecond_with_its_hash_and_event(
    accounts: Accounts,
) -> None:
    store, user, unknown = accounts.store, _account(), random_user_id()
    await store.create(user, "the hash")
    kept = replace(user, create_time=KEPT, update_time=KEPT)
    assert await store.get_many([user.id, unknown]) == {user.id: kept}
    assert await store.get_password_hash(user.id) == "the hash"
    assert await store.get_password_hash(unknown) is None
    assert accounts.events() == [("users.created", user.id, ())]


async def test_an_update_writes_the_changed_fields_alone_and_its_event(
    accounts: Accounts,
) -> None:
    store, user = accounts.store, _account()
    await store.create(user, "the hash")
    edited = replace(user, display_name="Ada L.", bio="not changed", update_time=MOMENT + MINUTE)
    await store.update_profile(edited, ["display_name"])
    kept = replace(user, display_name="Ada L.", create_time=KEPT, update_time=KEPT + MINUTE)
    assert await store.get_many([user.id]) == {user.id: kept}
    assert accounts.events()[-1] == ("users.updated", user.id, ("display_name",))


async def test_a_scan_visits_every_account_in_bounded_batches(accounts: Accounts) -> None:
    mine = [_account() for _ in range(3)]
    for user in mine:
        await accounts.store.create(user, "the hash")
    seen: set[int] = set()
    async for batch in accounts.store.scan(500):
        assert 0 < len(batch) <= 500
        seen |= {user.id for user in batch}
    assert {user.id for user in mine} <= seen


async def test_a_deletion_removes_the_account_holds_its_name_and_lists_its_revocation(
    accounts: Accounts,
) -> None:
    store, user = accounts.store, _account()
    assert await store.claim_username(user.username, user.id)
    await store.create(user, "the hash")
    deletion = Deletion(KEPT, KEPT + timedelta(days=30), KEPT + timedelta(hours=1))
    await store.delete(user, deletion)
    assert await store.get_many([user.id]) == {}
    assert await store.get_password_hash(user.id) is None
    assert not await store.claim_username(user.username, random_user_id())  # quarantined
    assert accounts.events()[-1] == ("users.deleted", user.id, ())
    revoked = {
        user_id: until async for batch in store.revocations() for user_id, until in batch.items()
    }
    assert revoked[user.id] == deletion.sessions_revoked
