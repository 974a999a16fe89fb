"""The OAuth state in Cassandra/ScyllaDB (tables of ``services/mastodon/schema/0011_oauth.cql``),
and each account's tokens and codes by account (``0015_oauth_by_account.cql``).

A token or code of an account is written after its row by account, so the rows by account name
every one of them: a deleted account's are all found there (``remove_account``). A revoked token
loses its row by account only with the account (a revocation stays one write), and a code's row
expires with the code (an exchanged code's too). Tokens issued before those tables existed have
no such row; they die when used (the service refuses the token of an account the users service
no longer knows, and removes it).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from services.mastodon.model import App, Grant, Token
from services.platform.cql import execute

#: An account's tokens (or codes) removed per round (an account has a handful).
REMOVED_PER_ROUND = 100


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
        self._index_token = prepare(
            "INSERT INTO oauth_tokens_by_account (user_id, token_hash) VALUES (?, ?)"
        )
        self._tokens_of = prepare(
            "SELECT token_hash FROM oauth_tokens_by_account WHERE user_id = ? LIMIT ?"
        )
        self._unindex_token = prepare(
            "DELETE FROM oauth_tokens_by_account WHERE user_id = ? AND token_hash = ?"
        )
        self._index_grant = prepare(
            "INSERT INTO oauth_grants_by_account (user_id, code_hash) VALUES (?, ?) USING TTL ?"
        )
        self._grants_of = prepare(
            "SELECT code_hash FROM oauth_grants_by_account WHERE user_id = ? LIMIT ?"
        )
        self._remove_grant = prepare("DELETE FROM oauth_grants WHERE code_hash = ?")
        self._unindex_grant = prepare(
            "DELETE FROM oauth_grants_by_account WHERE user_id = ? AND code_hash = ?"
        )

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
        await execute(self._session, self._index_grant, (grant.user_id, code_hash, ttl_seconds))
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
        if token.user_id is not None:
            await execute(self._session, self._index_token, (token.user_id, token_hash))
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

    async def remove_account(self, user_id: int) -> list[str]:
        """Each round removes tokens (codes), then their rows by account: a round cut short is
        done again by the next run."""
        tokens = await self._remove_all(user_id, self._tokens_of, self._revoke, self._unindex_token)
        await self._remove_all(user_id, self._grants_of, self._remove_grant, self._unindex_grant)
        return tokens

    async def _remove_all(
        self,
        user_id: int,
        listed: PreparedStatement,
        remove: PreparedStatement,
        unlist: PreparedStatement,
    ) -> list[str]:
        """Removes what the account's rows by account name (by hash), and those rows; the
        hashes."""
        removed: list[str] = []
        while hashes := [
            row[0] for row in (await execute(self._session, listed, (user_id, REMOVED_PER_ROUND)))
        ]:
            await asyncio.gather(*(execute(self._session, remove, (key,)) for key in hashes))
            await asyncio.gather(
                *(execute(self._session, unlist, (user_id, key)) for key in hashes)
            )
            removed += hashes
        return removed
