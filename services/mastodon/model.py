"""The Mastodon API's own values: the OAuth apps, grants and tokens it keeps, and scopes.

Everything else a Mastodon client sees (accounts, statuses, timelines) belongs to Chirp's
services; this service owns only what OAuth needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: Mastodon's scopes (https://docs.joinmastodon.org/api/oauth-scopes/): the top-level ones and
#: the sub-scopes each grants.
READ_SCOPES = frozenset(
    f"read:{part}"
    for part in (
        "accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists",
        "mutes", "notifications", "search", "statuses",
    )
)  # fmt: skip
WRITE_SCOPES = frozenset(
    f"write:{part}"
    for part in (
        "accounts", "blocks", "bookmarks", "conversations", "favourites", "filters",
        "follows", "lists", "media", "mutes", "notifications", "reports", "statuses",
    )
)  # fmt: skip
#: The legacy ``follow`` scope: what it stood for before sub-scopes existed.
FOLLOW_SCOPES = frozenset(
    {"read:blocks", "read:follows", "read:mutes", "write:blocks", "write:follows", "write:mutes"}
)
TOP_SCOPES = frozenset({"read", "write", "follow", "push", "profile"})
KNOWN_SCOPES = TOP_SCOPES | READ_SCOPES | WRITE_SCOPES


@dataclass(frozen=True)
class App:
    """A registered client application (``POST /api/v1/apps``)."""

    client_id: str
    name: str
    website: str
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    create_time: datetime


@dataclass(frozen=True)
class Grant:
    """An authorization code, given to an app for an account that signed in on
    ``/oauth/authorize``: single use, short-lived."""

    client_id: str
    user_id: int
    scopes: frozenset[str]
    redirect_uri: str
    code_challenge: str  # PKCE S256; empty when the app sent none


@dataclass(frozen=True)
class Token:
    """An access token as stored: the app's, and the account's for a user token (an app token,
    from ``client_credentials``, has no account)."""

    client_id: str
    user_id: int | None
    scopes: frozenset[str]
    create_time: datetime


@dataclass(frozen=True)
class Issued:
    """What a grant answers: the token itself (shown once, stored only as a hash)."""

    access_token: str
    scopes: frozenset[str]
    create_time: datetime
