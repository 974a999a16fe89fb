"""OAuth as Mastodon clients use it: apps, the grants, scopes, PKCE, revocation, sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.mastodon.service import (
    OUT_OF_BAND,
    TOKEN_CACHE_SECONDS,
    Authorization,
    OAuthError,
    OAuthService,
    covers,
    digest,
    parse_scopes,
    pkce_s256,
)
from services.platform.errors import Unauthenticated
from tests.unit.mastodon.fakes import MemoryAccounts, MemoryOAuthStore

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ADA = 7


@dataclass
class World:
    oauth: OAuthService
    store: MemoryOAuthStore
    accounts: MemoryAccounts
    clock: list[datetime]
    monotonic: list[float]


@pytest.fixture
def world() -> World:
    store, accounts = MemoryOAuthStore(), MemoryAccounts(NOW)
    accounts.add("ada", ADA, "correct horse")
    clock, monotonic = [NOW], [0.0]
    oauth = OAuthService(store, accounts, lambda: clock[0], lambda: monotonic[0])
    return World(oauth, store, accounts, clock, monotonic)


async def _app(world: World, scopes: str = "read write follow") -> tuple[str, str]:
    app, secret = await world.oauth.register_app("toot", OUT_OF_BAND, scopes, "")
    return app.client_id, secret


def test_scopes_cover_their_sub_scopes_and_follow_its_legacy_ones() -> None:
    granted = parse_scopes("read write:statuses follow")
    assert covers(granted, "read:statuses")
    assert covers(granted, "write:statuses")
    assert not covers(granted, "write:media")
    assert covers(granted, "write:follows")  # what "follow" stood for
    assert parse_scopes("") == frozenset({"read"})  # Mastodon's default
    assert parse_scopes("read+write") == frozenset({"read", "write"})
    with pytest.raises(OAuthError, match="unknown scopes: admin:read") as raised:
        parse_scopes("read admin:read")
    assert raised.value.error == "invalid_scope"


async def test_an_app_is_stored_with_its_secret_hashed(world: World) -> None:
    client_id, secret = await _app(world)
    app, secret_hash = world.store.apps[client_id]
    assert secret_hash == digest(secret) != secret
    assert app.redirect_uris == (OUT_OF_BAND,)
    assert (await world.oauth.app(client_id, secret)).name == "toot"
    with pytest.raises(OAuthError) as wrong:
        await world.oauth.app(client_id, "not the secret")
    assert (wrong.value.error, wrong.value.status) == ("invalid_client", 401)
    with pytest.raises(OAuthError, match="redirect_uris"):
        await world.oauth.register_app("x", "  ", "read", "")


async def test_the_password_grant_gives_a_token_of_the_account(world: World) -> None:
    client_id, secret = await _app(world)
    issued = await world.oauth.password_grant(client_id, secret, "ADA", "correct horse", "read")
    assert issued.scopes == frozenset({"read"})
    assert digest(issued.access_token) in world.store.tokens  # only the hash is kept
    caller = await world.oauth.caller(issued.access_token)
    assert caller is not None
    assert (caller.user_id, caller.client_id) == (ADA, client_id)
    with pytest.raises(OAuthError) as refused:
        await world.oauth.password_grant(client_id, secret, "ada", "wrong", "read")
    assert refused.value.error == "invalid_grant"


async def test_a_grant_asks_only_for_scopes_the_app_registered(world: World) -> None:
    client_id, secret = await _app(world, "read")
    with pytest.raises(OAuthError, match="write") as refused:
        await world.oauth.password_grant(client_id, secret, "ada", "correct horse", "read write")
    assert refused.value.error == "invalid_scope"
    issued = await world.oauth.password_grant(client_id, secret, "ada", "correct horse", "")
    assert issued.scopes == frozenset({"read"})  # none asked: the app's own


async def test_client_credentials_give_an_app_token_without_an_account(world: World) -> None:
    client_id, secret = await _app(world)
    issued = await world.oauth.client_credentials(client_id, secret, "read")
    caller = await world.oauth.caller(issued.access_token)
    assert caller is not None
    assert caller.user_id is None


async def test_a_code_is_exchanged_once_for_the_redirect_it_was_given(world: World) -> None:
    client_id, secret = await _app(world)
    asked = Authorization(client_id, OUT_OF_BAND, "read write")
    code = await world.oauth.authorize(asked, "ada", "correct horse")
    with pytest.raises(OAuthError, match="redirect_uri"):
        await world.oauth.code_grant(client_id, secret, code, "https://elsewhere.example/")
    code = await world.oauth.authorize(asked, "ada", "correct horse")
    issued = await world.oauth.code_grant(client_id, secret, code, OUT_OF_BAND)
    assert issued.scopes == frozenset({"read", "write"})
    with pytest.raises(OAuthError, match="unknown, used or expired"):
        await world.oauth.code_grant(client_id, secret, code, OUT_OF_BAND)


async def test_a_public_client_proves_its_code_with_pkce(world: World) -> None:
    client_id, _ = await _app(world)
    verifier = "a-verifier-of-forty-three-characters-at-least-1234"
    asked = Authorization(client_id, OUT_OF_BAND, "read", pkce_s256(verifier), "S256")
    code = await world.oauth.authorize(asked, "ada", "correct horse")
    with pytest.raises(OAuthError, match="code_verifier"):
        await world.oauth.code_grant(client_id, None, code, OUT_OF_BAND, "another verifier")
    code = await world.oauth.authorize(asked, "ada", "correct horse")
    issued = await world.oauth.code_grant(client_id, None, code, OUT_OF_BAND, verifier)
    assert (await world.oauth.caller(issued.access_token)) is not None
    plain = await world.oauth.authorize(
        Authorization(client_id, OUT_OF_BAND), "ada", "correct horse"
    )
    with pytest.raises(OAuthError, match="client_secret is required"):
        await world.oauth.code_grant(client_id, None, plain, OUT_OF_BAND)


async def test_an_authorization_is_checked_before_the_page_is_shown(world: World) -> None:
    client_id, _ = await _app(world, "read")
    with pytest.raises(OAuthError, match="redirect_uri"):
        await world.oauth.check_authorization(Authorization(client_id, "https://evil.example/"))
    with pytest.raises(OAuthError, match="write"):
        await world.oauth.check_authorization(Authorization(client_id, OUT_OF_BAND, "write"))
    with pytest.raises(OAuthError, match="S256"):
        await world.oauth.check_authorization(
            Authorization(client_id, OUT_OF_BAND, "read", "challenge", "plain")
        )
    with pytest.raises(OAuthError, match="unknown client"):
        await world.oauth.check_authorization(Authorization("nobody", OUT_OF_BAND))


async def test_a_revoked_token_stops_working_here_at_once_and_elsewhere_soon(
    world: World,
) -> None:
    client_id, secret = await _app(world)
    issued = await world.oauth.password_grant(client_id, secret, "ada", "correct horse", "read")
    other = OAuthService(world.store, world.accounts, monotonic=lambda: world.monotonic[0])
    assert await other.caller(issued.access_token) is not None  # another process caches it
    await world.oauth.revoke(client_id, secret, issued.access_token)
    assert await world.oauth.caller(issued.access_token) is None
    world.monotonic[0] += 11
    assert await other.caller(issued.access_token) is None


async def test_an_app_cannot_revoke_another_apps_token(world: World) -> None:
    client_id, secret = await _app(world)
    issued = await world.oauth.password_grant(client_id, secret, "ada", "correct horse", "read")
    thief_id, thief_secret = await _app(world)
    await world.oauth.revoke(thief_id, thief_secret, issued.access_token)  # ignored (RFC 7009)
    world.monotonic[0] += 11
    assert await world.oauth.caller(issued.access_token) is not None


async def test_a_session_is_kept_until_near_its_expiry(world: World) -> None:
    first = await world.oauth.session(ADA, "token-hash")
    assert await world.oauth.session(ADA, "token-hash") == first
    world.clock[0] = NOW + timedelta(minutes=56)  # less than five minutes left
    assert await world.oauth.session(ADA, "token-hash") != first
    assert world.accounts.sessions_issued == 2


async def test_an_app_token_registers_an_account_signed_in_for_that_app(world: World) -> None:
    client_id, secret = await _app(world)
    app_token = await world.oauth.client_credentials(client_id, secret, "read write")
    caller = await world.oauth.caller(app_token.access_token)
    assert caller is not None
    issued = await world.oauth.register(caller, "grace", "amazing grace", "Grace")
    registered = await world.oauth.caller(issued.access_token)
    assert registered is not None
    assert (registered.user_id, registered.scopes) == (1001, frozenset({"read", "write"}))
    with pytest.raises(OAuthError, match="app token"):
        await world.oauth.register(registered, "another", "pass word", "")


async def test_a_deleted_accounts_tokens_and_codes_stop_working_here_at_once_and_elsewhere_soon(
    world: World,
) -> None:
    world.accounts.add("bob", 8, "bob's password")
    client_id, secret = await _app(world)
    password = await world.oauth.password_grant(client_id, secret, "ada", "correct horse", "")
    asked = Authorization(client_id, OUT_OF_BAND, "read")
    exchanged = await world.oauth.code_grant(
        client_id, secret, await world.oauth.authorize(asked, "ada", "correct horse"), OUT_OF_BAND
    )
    unexchanged = await world.oauth.authorize(asked, "ada", "correct horse")
    bobs = await world.oauth.password_grant(client_id, secret, "bob", "bob's password", "")
    apps = await world.oauth.client_credentials(client_id, secret, "read")
    other = OAuthService(world.store, world.accounts, monotonic=lambda: world.monotonic[0])
    assert await other.caller(password.access_token) is not None  # another process caches it
    await world.oauth.caller(exchanged.access_token)  # and so does this one
    await world.oauth.session(ADA, digest(password.access_token))

    await world.oauth.erase_account(ADA)
    for issued in (password, exchanged):
        assert await world.oauth.caller(issued.access_token) is None
    with pytest.raises(OAuthError, match="unknown, used or expired"):
        await world.oauth.code_grant(client_id, secret, unexchanged, OUT_OF_BAND)
    world.monotonic[0] += TOKEN_CACHE_SECONDS + 1
    assert await other.caller(password.access_token) is None
    for kept in (bobs, apps):
        assert await world.oauth.caller(kept.access_token) is not None
    await world.oauth.erase_account(ADA)  # again: nothing left, nothing else removed
    assert len(world.store.tokens) == 2


async def test_a_token_of_a_deleted_account_is_refused_and_removed_when_next_used(
    world: World,
) -> None:
    """What ends a token the erasure did not find (issued before tokens were listed by
    account): the users service no longer knows its account."""
    client_id, secret = await _app(world)
    issued = await world.oauth.password_grant(client_id, secret, "ada", "correct horse", "")
    world.accounts.delete(ADA)
    caller = await world.oauth.caller(issued.access_token)
    assert caller is not None
    assert caller.user_id == ADA
    with pytest.raises(Unauthenticated, match="deleted"):
        await world.oauth.session(ADA, caller.token_hash)
    assert world.store.tokens == {}
    assert await world.oauth.caller(issued.access_token) is None
