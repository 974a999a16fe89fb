"""Page tokens of the home timeline (pure)."""

from __future__ import annotations

from services.platform import paging

_KIND = "home"


def encode_token(before_id: int) -> str:
    """An opaque token: the page continues with ids strictly below ``before_id``."""
    return paging.encode_token(_KIND, 0, before_id)


def decode_token(token: str) -> int | None:
    """The id the page continues below; None for the newest page."""
    return paging.decode_int(token, _KIND, 0)
