"""OAuth 2 as Mastodon clients speak it: apps, grants, tokens and scopes, over Chirp's accounts.

Tokens are Mastodon's: opaque, long-lived until revoked, stored only as hashes. Each maps onto
Chirp's own sessions: a request with an OAuth token is served with a Chirp session token of
its account (``UsersService/IssueSession``, renewed before it expires), so the services check
it as they check every token; passwords are checked by the users service alone
(``CreateSession``), with its rate limit per account. A deleted account's tokens and codes are
removed (``erase_account``, from ``users.deleted``), and a token of an account the users
service no longer knows is refused and removed when used (``session``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from services.mastodon.model import (
    FOLLOW_SCOPES,
    KNOWN_SCOPES,
    App,
    Grant,
    Issued,
    Token,
)
from services.mastodon.ports import Accounts, OAuthStore
from services.platform.errors import NotFound, Unauthenticated

#: The redirect of apps that show the code to the person to paste (toot's login).
OUT_OF_BAND = "urn:ietf:wg:oauth:2.0:oob"
#: How long an authorization code can be exchanged.
CODE_SECONDS = 600
#: A session token is renewed once it has less than this left.
SESSION_MARGIN = timedelta(minutes=5)
#: How long a process trusts a token it looked up (a revoke elsewhere shows within this).
TOKEN_CACHE_SECONDS = 10.0
#: Tokens and sessions a process keeps at most (the least recently kept go first).
CACHED = 10_000


K = TypeVar("K")
V = TypeVar("V")


class OAuthError(Exception):
    """An OAuth error (RFC 6749 section 5.2): ``error`` is its code, the message its
    description."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.status = status


def parse_scopes(text: str, default: str = "read") -> frozenset[str]:
    """Space-separated scopes (``+`` too, as some clients send them); unknown ones refused."""
    scopes = frozenset(text.replace("+", " ").split()) or frozenset({default})
    unknown = sorted(scopes - KNOWN_SCOPES)
    if unknown:
        raise OAuthError("invalid_scope", f"unknown scopes: {' '.join(unknown)}")
    return scopes


def covers(granted: frozenset[str], wanted: str) -> bool:
    """Whether ``granted`` allows ``wanted``: itself, its top-level scope (``read`` for
    ``read:statuses``), or the legacy ``follow`` for what it stood for."""
    return (
        wanted in granted
        or wanted.split(":", maxsplit=1)[0] in granted
        or (wanted in FOLLOW_SCOPES and "follow" in granted)
    )


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _same(given: str, kept: str) -> bool:
    return hmac.compare_digest(given.encode(), kept.encode())


@dataclass(frozen=True)
class Authorization:
    """What an app asks on ``/oauth/authorize``: carried through the sign-in page as is."""

    client_id: str
    redirect_uri: str
    scope: str = ""
    code_challenge: str = ""
    code_challenge_method: str = ""


@dataclass(frozen=True)
class Caller:
    """Who a request is from: the token's app, account (None for an app token) and scopes, and
    the token's hash."""

    client_id: str
    user_id: int | None
    scopes: frozenset[str]
    token_hash: str


class OAuthService:
    def __init__(
        self,
        store: OAuthStore,
        accounts: Accounts,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self._monotonic = monotonic
        self._tokens: OrderedDict[str, tuple[float, Token | None]] = OrderedDict()
        self._sessions: OrderedDict[int, tuple[str, datetime]] = OrderedDict()

    # Apps.

    async def register_app(
        self, name: str, redirect_uris: str, scopes: str, website: str
    ) -> tuple[App, str]:
        """A new app and its secret (shown once)."""
        if not name.strip():
            raise OAuthError("invalid_request", "client_name is required", 422)
        uris = tuple(uri.strip() for uri in redirect_uris.split() if uri.strip())
        if not uris:
            raise OAuthError("invalid_request", "redirect_uris is required", 422)
        app = App(
            client_id=secrets.token_urlsafe(32),
            name=name.strip()[:200],
            website=website.strip()[:2000],
            redirect_uris=uris,
            scopes=parse_scopes(scopes),
            create_time=self._clock(),
        )
        secret = secrets.token_urlsafe(32)
        await self._store.add_app(app, digest(secret))
        return app, secret

    async def app(self, client_id: str, client_secret: str | None = None) -> App:
        """The app of ``client_id``, its secret checked when one is given."""
        found = await self._store.app(client_id) if client_id else None
        if found is None:
            raise OAuthError("invalid_client", "unknown client", 401)
        app, secret_hash = found
        if client_secret is not None and not hmac.compare_digest(
            digest(client_secret), secret_hash
        ):
            raise OAuthError("invalid_client", "wrong client secret", 401)
        return app

    # Grants.

    async def password_grant(
        self, client_id: str, client_secret: str, username: str, password: str, scope: str
    ) -> Issued:
        app = await self.app(client_id, client_secret)
        scopes = self._allowed(app, scope)
        try:
            user_id = await self._accounts.sign_in(username, password)
        except Unauthenticated as error:
            raise OAuthError("invalid_grant", str(error)) from error
        return await self._issue(app, user_id, scopes)

    async def client_credentials(self, client_id: str, client_secret: str, scope: str) -> Issued:
        app = await self.app(client_id, client_secret)
        return await self._issue(app, None, self._allowed(app, scope))

    async def authorize(self, asked: Authorization, username: str, password: str) -> str:
        """A code for the app, once the account signed in on the authorization page."""
        app = await self.check_authorization(asked)
        user_id = await self._accounts.sign_in(username, password)
        code = secrets.token_urlsafe(32)
        scopes = self._allowed(app, asked.scope)
        grant = Grant(app.client_id, user_id, scopes, asked.redirect_uri, asked.code_challenge)
        await self._store.add_grant(digest(code), grant, CODE_SECONDS)
        return code

    async def check_authorization(self, asked: Authorization) -> App:
        """The app asking, if what it asks can be granted (before the page is shown)."""
        app = await self.app(asked.client_id)
        if asked.redirect_uri not in app.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is not one of the app's")
        self._allowed(app, asked.scope)
        if asked.code_challenge and asked.code_challenge_method != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256")
        return app

    async def code_grant(
        self,
        client_id: str,
        client_secret: str | None,
        code: str,
        redirect_uri: str,
        code_verifier: str = "",
    ) -> Issued:
        """The code's token. A public client (no secret) must prove the code with PKCE."""
        app = await self.app(client_id, client_secret)
        grant = await self._store.take_grant(digest(code)) if code else None
        if grant is None or grant.client_id != app.client_id:
            raise OAuthError("invalid_grant", "the code is unknown, used or expired")
        if grant.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization's")
        if grant.code_challenge:
            if not _same(pkce_s256(code_verifier), grant.code_challenge):
                raise OAuthError("invalid_grant", "code_verifier does not match the challenge")
        elif client_secret is None:
            raise OAuthError("invalid_client", "client_secret is required without PKCE", 401)
        return await self._issue(app, grant.user_id, grant.scopes)

    async def register(
        self, caller: Caller, username: str, password: str, display_name: str
    ) -> Issued:
        """An account made through an app (``POST /api/v1/accounts``, with the app's own
        token), and a token of the new account for that app with the app token's scopes."""
        if caller.user_id is not None:
            raise OAuthError("invalid_grant", "registration takes an app token", 403)
        user_id = await self._accounts.register(username, password, display_name)
        app = await self.app(caller.client_id)
        return await self._issue(app, user_id, caller.scopes)

    async def revoke(self, client_id: str, client_secret: str, token: str) -> None:
        """Revokes the app's own token; anything else is ignored, as RFC 7009 asks."""
        app = await self.app(client_id, client_secret)
        key = digest(token)
        found = await self._store.token(key)
        if found is not None and found.client_id == app.client_id:
            await self._store.revoke(key)
        self._tokens.pop(key, None)

    # Requests.

    async def caller(self, bearer: str) -> Caller | None:
        """The caller of a request's bearer token; None if it is unknown or revoked."""
        key = digest(bearer)
        now = self._monotonic()
        cached = self._tokens.get(key)
        if cached is not None and now - cached[0] < TOKEN_CACHE_SECONDS:
            token = cached[1]
        else:
            token = await self._store.token(key)
            _remember(self._tokens, key, (now, token))
        if token is None:
            return None
        return Caller(token.client_id, token.user_id, token.scopes, key)

    async def session(self, user_id: int, token_hash: str) -> str:
        """A Chirp session token of the account of the token ``token_hash``, renewed before it
        expires. Once the users service no longer knows the account (deleted), the token is
        removed and refused (``Unauthenticated``): what ends a token the erasure of the account
        did not find (one issued before tokens were listed by account)."""
        kept = self._sessions.get(user_id)
        if kept is None or kept[1] - self._clock() < SESSION_MARGIN:
            try:
                kept = await self._accounts.session(user_id)
            except NotFound as error:
                await self._store.revoke(token_hash)
                self._tokens.pop(token_hash, None)
                raise Unauthenticated("the account of this access token was deleted") from error
            _remember(self._sessions, user_id, kept)
        return kept[0]

    # Deleted accounts.

    async def erase_account(self, user_id: int) -> None:
        """Removes every token and authorization code of a deleted account. This process
        forgets them at once; the others trust a token they looked up for at most
        ``TOKEN_CACHE_SECONDS``, as after a revocation (and the account's Chirp sessions are
        refused everywhere by then)."""
        for token_hash in await self._store.remove_account(user_id):
            self._tokens.pop(token_hash, None)
        self._sessions.pop(user_id, None)

    # Rules.

    def _allowed(self, app: App, scope: str) -> frozenset[str]:
        """The scopes asked for (the app's own when none are), within the app's."""
        scopes = parse_scopes(scope) if scope.strip() else app.scopes
        beyond = sorted(s for s in scopes if not covers(app.scopes, s))
        if beyond:
            raise OAuthError("invalid_scope", f"the app was not registered for: {' '.join(beyond)}")
        return scopes

    async def _issue(self, app: App, user_id: int | None, scopes: frozenset[str]) -> Issued:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        await self._store.add_token(digest(token), Token(app.client_id, user_id, scopes, now))
        return Issued(token, scopes, now)


def _remember(cache: OrderedDict[K, V], key: K, value: V) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > CACHED:
        cache.popitem(last=False)
