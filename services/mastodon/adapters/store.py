"""The OAuth state in Cassandra/ScyllaDB (tables of ``services/mastodon/schema/0011_oauth.cql``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cassandra.cluster import Session

from services.mastodon.model import App, Grant, Token
from services.platform.cql import execute


def _token(row: Any) -> Token:
    return Token(row.client_id, row.user_id, frozenset(row.scopes or ()), _utc(row.create_time))


def _utc(moment: datetime) -> datetime:
    """The driver reads timestamps as naive UTC."""
    return moment.replace(tzinfo=UTC)


class CassandraOAuthStore:
    def __init__(self, session: Session) -> None:
        self._session = session
        prepare = session.prepare
        self._add_app = prepare(
            "INSERT INTO oauth_apps (client_id, secret_hash, name, website, redirect_uris, "
            "scopes, create_time) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        self._app = prepare(
            "SELECT client_id, secret_hash, name, website, redirect_uris, scopes, create_time "
            "FROM oauth_apps WHERE client_id = ?"
        )
        self._add_grant = prepare(
            "INSERT INTO oauth_grants (code_hash, client_id, user_id, scopes, redirect_uri, "
            "code_challenge) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"
        )
        self._take_grant = prepare("DELETE FROM oauth_grants WHERE code_hash = ? IF EXISTS")
        self._grant = prepare(
            "SELECT client_id, user_id, scopes, redirect_uri, code_challenge "
            "FROM oauth_grants WHERE code_hash = ?"
        )
        self._add_token = prepare(
            "INSERT INTO oauth_tokens (token_hash, client_id, user_id, scopes, create_time) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        self._token = prepare(
            "SELECT client_id, user_id, scopes, create_time FROM oauth_tokens WHERE token_hash = ?"
        )
        self._revoke = prepare("DELETE FROM oauth_tokens WHERE token_hash = ?")

    async def add_app(self, app: App, secret_hash: str) -> None:
        await execute(
            self._session,
            self._add_app,
            (
                app.client_id, secret_hash, app.name, app.website, list(app.redirect_uris),
                set(app.scopes), app.create_time,
            ),
        )  # fmt: skip

    async def app(self, client_id: str) -> tuple[App, str] | None:
        row = (await execute(self._session, self._app, (client_id,))).one()
        if row is None:
            return None
        app = App(
            client_id=row.client_id,
            name=row.name or "",
            website=row.website or "",
            redirect_uris=tuple(row.redirect_uris or ()),
            scopes=frozenset(row.scopes or ()),
            create_time=_utc(row.create_time),
        )
        return app, row.secret_hash

    async def add_grant(self, code_hash: str, grant: Grant, ttl_seconds: int) -> None:
        await execute(
            self._session,
            self._add_grant,
            (
                code_hash, grant.client_id, grant.user_id, set(grant.scopes), grant.redirect_uri,
                grant.code_challenge, ttl_seconds,
            ),
        )  # fmt: skip

    async def take_grant(self, code_hash: str) -> Grant | None:
        row = (await execute(self._session, self._grant, (code_hash,))).one()
        if row is None:
            return None
        taken = (await execute(self._session, self._take_grant, (code_hash,))).one()
        if not taken.applied:  # another exchange took it between the read and the delete
            return None
        return Grant(
            row.client_id, row.user_id, frozenset(row.scopes or ()), row.redirect_uri,
            row.code_challenge or "",
        )  # fmt: skip

    async def add_token(self, token_hash: str, token: Token) -> None:
        await execute(
            self._session,
            self._add_token,
            (token_hash, token.client_id, token.user_id, set(token.scopes), token.create_time),
        )

    async def token(self, token_hash: str) -> Token | None:
        row = (await execute(self._session, self._token, (token_hash,))).one()
        return None if row is None else _token(row)

    async def revoke(self, token_hash: str) -> None:
        await execute(self._session, self._revoke, (token_hash,))
