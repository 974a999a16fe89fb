"""In-memory stand-ins for the Mastodon API's ports (each held to its real adapter by
``tests/contracts/mastodon``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.mastodon.model import App, Grant, Token
from services.platform.errors import NotFound, Unauthenticated


@dataclass
class MemoryOAuthStore:
    apps: dict[str, tuple[App, str]] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)

    async def add_app(self, app: App, secret_hash: str) -> None:
        self.apps[app.client_id] = (app, secret_hash)

    async def app(self, client_id: str) -> tuple[App, str] | None:
        return self.apps.get(client_id)

    async def add_grant(self, code_hash: str, grant: Grant, _ttl_seconds: int) -> None:
        """Expiry aside (tested on Cassandra)."""
        self.grants[code_hash] = grant

    async def take_grant(self, code_hash: str) -> Grant | None:
        return self.grants.pop(code_hash, None)

    async def add_token(self, token_hash: str, token: Token) -> None:
        self.tokens[token_hash] = token

    async def token(self, token_hash: str) -> Token | None:
        return self.tokens.get(token_hash)

    async def revoke(self, token_hash: str) -> None:
        self.tokens.pop(token_hash, None)

    async def remove_account(self, user_id: int) -> list[str]:
        removed = [key for key, token in self.tokens.items() if token.user_id == user_id]
        for key in removed:
            del self.tokens[key]
        for code in [code for code, grant in self.grants.items() if grant.user_id == user_id]:
            del self.grants[code]
        return removed


@dataclass
class MemoryAccounts:
    """Accounts by folded username with their passwords, and the sessions issued."""

    now: datetime
    passwords: dict[str, tuple[int, str]] = field(default_factory=dict)
    sessions_issued: int = 0

    def add(self, username: str, user_id: int, password: str) -> None:
        self.passwords[username.casefold()] = (user_id, password)

    async def sign_in(self, username: str, password: str) -> int:
        found = self.passwords.get(username.casefold())
        if found is None or found[1] != password:
            raise Unauthenticated("wrong username or password")
        return found[0]

    async def register(self, username: str, password: str, _display_name: str) -> int:
        user_id = 1000 + len(self.passwords)
        self.add(username, user_id, password)
        return user_id

    def delete(self, user_id: int) -> None:
        self.passwords = {name: kept for name, kept in self.passwords.items() if kept[0] != user_id}

    async def session(self, user_id: int) -> tuple[str, datetime]:
        if user_id not in {kept[0] for kept in self.passwords.values()}:
            raise NotFound(f"user {user_id} not found")
        self.sessions_issued += 1
        return f"session-{user_id}-{self.sessions_issued}", self.now + timedelta(hours=1)
