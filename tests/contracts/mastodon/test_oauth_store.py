"""``OAuthStore``: the in-memory fake and Cassandra keep the same promises."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import pytest

from services.mastodon.adapters.store import CassandraOAuthStore
from services.mastodon.model import App, Grant, Token
from services.mastodon.ports import OAuthStore
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.mastodon.support import with_oauth_tables
from tests.unit.mastodon.fakes import MemoryOAuthStore

MOMENT = datetime(2026, 11, 27, 12, 0, 0, 123000, tzinfo=UTC)


def _cassandra(request: pytest.FixtureRequest) -> OAuthStore:
    return CassandraOAuthStore(with_oauth_tables(request.getfixturevalue("session")))


def _memory(_: pytest.FixtureRequest) -> OAuthStore:
    return MemoryOAuthStore()


store = implementations(memory=unit(_memory), cassandra=integration(_cassandra))


def _key() -> str:
    return secrets.token_hex(32)


async def test_an_app_reads_back_with_its_secret_hash(store: OAuthStore) -> None:
    app = App(_key(), "toot", "https://toot.example", ("urn:ietf:wg:oauth:2.0:oob",),
              frozenset({"read", "write"}), MOMENT)  # fmt: skip
    await store.add_app(app, "hash-of-secret")
    assert await store.app(app.client_id) == (app, "hash-of-secret")
    assert await store.app(_key()) is None


async def test_a_grant_is_taken_once(store: OAuthStore) -> None:
    grant = Grant(_key(), 7, frozenset({"read"}), "urn:ietf:wg:oauth:2.0:oob", "challenge")
    code = _key()
    await store.add_grant(code, grant, 600)
    taken = await asyncio.gather(store.take_grant(code), store.take_grant(code))
    assert sorted(taken, key=lambda g: g is None) == [grant, None]
    assert await store.take_grant(code) is None


async def test_tokens_of_accounts_and_of_apps_read_back_until_revoked(store: OAuthStore) -> None:
    user_token = Token(_key(), 7, frozenset({"read", "write:statuses"}), MOMENT)
    app_token = Token(_key(), None, frozenset({"read"}), MOMENT)
    first, second = _key(), _key()
    await store.add_token(first, user_token)
    await store.add_token(second, app_token)
    assert await store.token(first) == user_token
    assert await store.token(second) == app_token
    await store.revoke(first)
    assert await store.token(first) is None
    assert await store.token(second) == app_token


async def test_an_accounts_tokens_and_codes_are_removed_and_no_one_elses(
    store: OAuthStore,
) -> None:
    gone, other = secrets.randbelow(2**62) + 1, secrets.randbelow(2**62) + 1
    tokens = {_key(): Token(_key(), gone, frozenset({"read"}), MOMENT) for _ in range(3)}
    kept = {
        _key(): Token(_key(), other, frozenset({"read"}), MOMENT),
        _key(): Token(_key(), None, frozenset({"read"}), MOMENT),  # an app's
    }
    for token_hash, token in {**tokens, **kept}.items():
        await store.add_token(token_hash, token)
    code, others_code = _key(), _key()
    await store.add_grant(code, Grant(_key(), gone, frozenset({"read"}), "oob", ""), 600)
    await store.add_grant(others_code, Grant(_key(), other, frozenset({"read"}), "oob", ""), 600)

    assert sorted(await store.remove_account(gone)) == sorted(tokens)
    for token_hash in tokens:
        assert await store.token(token_hash) is None
    assert await store.take_grant(code) is None
    for token_hash, token in kept.items():
        assert await store.token(token_hash) == token
    assert await store.take_grant(others_code) is not None
    assert await store.remove_account(gone) == []
