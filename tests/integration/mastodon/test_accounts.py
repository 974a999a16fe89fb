"""The ``mastodon-accounts`` consumer against the real Cassandra: a deleted account's tokens and
authorization codes are gone from every OAuth table (read directly), no one else's are touched,
a second run changes nothing, and a token the erasure could not find (issued before tokens were
listed by account) is refused and removed when next used."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import pytest
from cassandra.cluster import Session
from chirp.events.v1 import user_events_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from services.mastodon.adapters.store import CassandraOAuthStore
from services.mastodon.consumers.accounts import DeletedAccounts
from services.mastodon.model import Grant
from services.mastodon.service import OUT_OF_BAND, Authorization, OAuthService, digest
from services.platform.errors import Unauthenticated
from services.platform.subjects import USERS_DELETED
from tests.unit.mastodon.fakes import MemoryAccounts

PASSWORD = "correct horse"  # noqa: S105  (a test account's)


def _user_id() -> int:
    return secrets.randbelow(2**62) + 1


def _deleted(user_id: int) -> user_events_pb2.UserDeletedEvent:
    occur_time = Timestamp()
    occur_time.FromDatetime(datetime.now(UTC))
    return USERS_DELETED.type(user_id=user_id, occur_time=occur_time)


def _hashes(session: Session, table: str, column: str, user_id: int) -> set[str]:
    """What ``table`` holds of the account, scanned whole for the tables keyed by hash."""
    filtering = "" if table.endswith("_by_account") else " ALLOW FILTERING"
    rows = session.execute(
        f"SELECT {column} FROM {table} WHERE user_id = %s{filtering}",  # noqa: S608  (names above)
        (user_id,),
    )
    return {row[0] for row in rows}


def _held(session: Session, user_id: int) -> dict[str, set[str]]:
    return {
        table: _hashes(session, table, column, user_id)
        for table, column in (
            ("oauth_tokens", "token_hash"),
            ("oauth_tokens_by_account", "token_hash"),
            ("oauth_grants", "code_hash"),
            ("oauth_grants_by_account", "code_hash"),
        )
    }


async def test_a_deleted_accounts_tokens_and_codes_are_erased_from_every_table(
    oauth_session: Session,
) -> None:
    store = CassandraOAuthStore(oauth_session)
    gone, other = _user_id(), _user_id()
    accounts = MemoryAccounts(datetime.now(UTC))
    accounts.add(f"g{gone}", gone, PASSWORD)
    accounts.add(f"o{other}", other, PASSWORD)
    oauth = OAuthService(store, accounts)
    app, secret = await oauth.register_app("toot", OUT_OF_BAND, "read write", "")
    client_id = app.client_id
    tokens = [await oauth.password_grant(client_id, secret, f"g{gone}", PASSWORD, "")]
    asked = Authorization(client_id, OUT_OF_BAND, "read")
    code = await oauth.authorize(asked, f"g{gone}", PASSWORD)
    tokens.append(await oauth.code_grant(client_id, secret, code, OUT_OF_BAND))
    await oauth.authorize(asked, f"g{gone}", PASSWORD)  # a code not exchanged yet
    others = await oauth.password_grant(client_id, secret, f"o{other}", PASSWORD, "")
    others_code = await oauth.authorize(asked, f"o{other}", PASSWORD)
    held = _held(oauth_session, gone)
    assert (
        held["oauth_tokens"]
        == held["oauth_tokens_by_account"]
        == {digest(token.access_token) for token in tokens}
    )
    assert len(held["oauth_grants"]) == 1  # the code not exchanged; the exchanged one's row
    assert held["oauth_grants"] < held["oauth_grants_by_account"]  # by account expires with it
    others_held = _held(oauth_session, other)

    accounts.delete(gone)
    consumer = DeletedAccounts("nats://unused", oauth, grace_seconds=0)
    assert await consumer.erase(_deleted(gone))
    assert _held(oauth_session, gone) == {table: set() for table in held}
    for token in tokens:
        assert await oauth.caller(token.access_token) is None
    assert await oauth.caller(others.access_token) is not None
    assert _held(oauth_session, other) == others_held
    assert await consumer.erase(_deleted(gone))  # a redelivery
    assert _held(oauth_session, other) == others_held
    await oauth.code_grant(client_id, secret, others_code, OUT_OF_BAND)


async def test_a_token_issued_before_tokens_were_listed_dies_when_next_used(
    oauth_session: Session,
) -> None:
    store = CassandraOAuthStore(oauth_session)
    gone = _user_id()
    accounts = MemoryAccounts(datetime.now(UTC))
    accounts.add(f"g{gone}", gone, PASSWORD)
    oauth = OAuthService(store, accounts)
    app, secret = await oauth.register_app("toot", OUT_OF_BAND, "read", "")
    issued = await oauth.password_grant(app.client_id, secret, f"g{gone}", PASSWORD, "")
    oauth_session.execute(  # as it was before the tables by account
        "DELETE FROM oauth_tokens_by_account WHERE user_id = %s", (gone,)
    )
    accounts.delete(gone)
    await DeletedAccounts("nats://unused", oauth, grace_seconds=0).erase(_deleted(gone))
    caller = await oauth.caller(issued.access_token)
    assert caller is not None  # not found by the erasure ...
    with pytest.raises(Unauthenticated):  # ... but refused: its account is unknown
        await oauth.session(gone, caller.token_hash)
    assert _hashes(oauth_session, "oauth_tokens", "token_hash", gone) == set()


async def test_a_codes_row_by_account_expires_with_the_code(oauth_session: Session) -> None:
    store = CassandraOAuthStore(oauth_session)
    user_id, code = _user_id(), secrets.token_hex(32)
    # Cassandra counts a TTL from the whole second the write landed in: 3 s live for 2 to 3.
    await store.add_grant(code, Grant("app", user_id, frozenset({"read"}), OUT_OF_BAND, ""), 3)
    assert _hashes(oauth_session, "oauth_grants_by_account", "code_hash", user_id) == {code}
    await asyncio.sleep(3.1)
    assert _hashes(oauth_session, "oauth_grants_by_account", "code_hash", user_id) == set()
    assert await store.take_grant(code) is None
