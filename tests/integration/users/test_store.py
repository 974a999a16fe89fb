"""The Cassandra user store against the real Cassandra, with its events on the real stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cassandra.cluster import Session

from services.platform.ids import compose
from services.platform.outbox import CassandraOutboxStore, Outbox, OutboxRelay, running_relay
from services.platform.settings import StoreSettings
from services.platform.subjects import USERS_CREATED, USERS_DELETED, USERS_UPDATED
from services.users.adapters import store as store_module
from services.users.adapters.store import CassandraUserStore
from services.users.model import Deletion, NotWritten, User
from tests.integration.streams import event_of

SETTINGS = StoreSettings()


@pytest.fixture
async def store(session: Session) -> AsyncIterator[CassandraUserStore]:
    outbox = Outbox(session)
    relay = OutboxRelay(CassandraOutboxStore(session, outbox), outbox, SETTINGS.nats_url)
    async with running_relay(relay):
        yield CassandraUserStore(session, outbox)


def _new_user(**fields: str) -> User:
    """An account with an id no other test run uses (random worker and sequence bits)."""
    now = datetime.now(UTC).replace(microsecond=0)
    unique = uuid.uuid4().int
    user_id = compose(int(now.timestamp() * 1000), unique % 1024, (unique >> 10) % 4096)
    assert user_id > 0
    name = f"st_{uuid.uuid4().hex[:12]}"
    return User(
        user_id, fields.get("username", name), fields.get("display_name", "S"), "", now, now
    )


async def test_a_name_is_claimed_once_and_released_only_by_its_holder(
    store: CassandraUserStore,
) -> None:
    name = f"claim_{uuid.uuid4().hex[:10]}"
    assert await store.claim_username(name, 1)
    assert not await store.claim_username(name, 2)
    await store.release_username(name, 2)  # not the holder: nothing happens
    assert await store.find_ids([name]) == {name: 1}
    await store.release_username(name, 1)
    assert await store.find_ids([name]) == {}
    assert await store.claim_username(name, 2)
    await store.release_username(name, 2)


async def test_concurrent_claims_of_one_name_have_one_winner(store: CassandraUserStore) -> None:
    name = f"race_{uuid.uuid4().hex[:10]}"
    won = await asyncio.gather(*(store.claim_username(name, user_id) for user_id in range(1, 21)))
    assert sum(won) == 1
    winner = won.index(True) + 1
    assert await store.find_ids([name]) == {name: winner}
    await store.release_username(name, winner)


async def test_an_account_is_written_with_its_hash_and_its_created_event(
    store: CassandraUserStore,
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    user = _new_user(display_name="Grace")
    await store.create(user, "$argon2id$stand-in")
    assert await store.get_many([user.id, user.id + 1]) == {user.id: user}
    assert await store.get_password_hash(user.id) == "$argon2id$stand-in"
    assert await store.get_password_hash(user.id + 1) is None
    event = await event_of(
        USERS_CREATED,
        since,
        lambda event: event.user.id == user.id,
    )
    assert (event.user.username, event.user.display_name) == (user.username, "Grace")
    assert event.occur_time.ToDatetime(tzinfo=UTC) == user.create_time
    assert event.event_id


async def test_an_update_writes_only_the_changed_fields_and_its_event(
    store: CassandraUserStore,
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    user = _new_user(display_name="Before")
    await store.create(user, "hash")
    later = user.update_time + timedelta(seconds=1)
    # The bio changes; the display name in this (stale) copy must not overwrite the stored one.
    await store.update_profile(
        User(user.id, user.username, "stale", "new bio", user.create_time, later), ["bio"]
    )
    stored = (await store.get_many([user.id]))[user.id]
    assert (stored.display_name, stored.bio, stored.update_time) == ("Before", "new bio", later)
    event = await event_of(
        USERS_UPDATED,
        since,
        lambda event: event.user.id == user.id,
    )
    assert list(event.update_mask.paths) == ["bio"]
    assert event.user.bio == "new bio"


async def test_a_refused_write_is_reported_as_not_written_and_stores_nothing(
    store: CassandraUserStore,
) -> None:
    # Over Cassandra's batch size limit (50 KiB): refused before anything is applied.
    user = replace(_new_user(), bio="x" * 60_000)
    with pytest.raises(NotWritten, match="Batch too large"):
        await store.create(user, "hash")
    assert await store.get_many([user.id]) == {}


async def test_a_scan_pages_through_every_account(store: CassandraUserStore) -> None:
    created = [_new_user() for _ in range(3)]
    for user in created:
        await store.create(user, "hash")
    batches = [batch async for batch in store.scan(50)]
    assert all(0 < len(batch) <= 50 for batch in batches)
    seen = [user.id for batch in batches for user in batch]
    assert len(seen) == len(set(seen))
    assert {user.id for user in created} <= set(seen)


async def test_a_deletion_removes_the_account_holds_its_name_then_frees_it(
    store: CassandraUserStore, session: Session
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    user = _new_user(username=f"Del_{uuid.uuid4().hex[:10]}")
    folded = user.username.lower()
    assert await store.claim_username(folded, user.id)
    await store.create(user, "$argon2id$stand-in")
    now = datetime.now(UTC).replace(microsecond=0)
    quarantine = 3
    deletion = Deletion(
        now, now + timedelta(seconds=quarantine), now + timedelta(seconds=quarantine + 60)
    )
    await store.delete(user, deletion)
    assert await store.get_many([user.id]) == {}
    assert await store.get_password_hash(user.id) is None
    assert session.execute("SELECT id FROM users WHERE id = %s", (user.id,)).one() is None
    assert not await store.claim_username(folded, user.id + 1)  # quarantined
    event = await event_of(USERS_DELETED, since, lambda event: event.user_id == user.id)
    assert event.username == user.username
    assert event.occur_time.ToDatetime(tzinfo=UTC) == now
    revoked = {
        user_id: until async for batch in store.revocations() for user_id, until in batch.items()
    }
    assert revoked[user.id] == deletion.sessions_revoked
    await asyncio.sleep(quarantine + 1)
    assert await store.claim_username(folded, user.id + 1)  # released when the quarantine ended
    await store.release_username(folded, user.id + 1)


async def test_the_revocations_are_read_in_pages(
    store: CassandraUserStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_REVOCATIONS_PAGE", 2)
    now = datetime.now(UTC).replace(microsecond=0)
    deletion = Deletion(now, now + timedelta(seconds=60), now + timedelta(seconds=60))
    users = [_new_user() for _ in range(5)]
    for user in users:
        await store.create(user, "$argon2id$stand-in")
        await store.delete(user, deletion)
    batches = [batch async for batch in store.revocations()]
    assert all(len(batch) <= 2 for batch in batches)
    read = [user_id for batch in batches for user_id in batch]
    assert len(read) == len(set(read))
    assert {user.id for user in users} <= set(read)
