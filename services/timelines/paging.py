"""Page sizes and page tokens of the home timeline (pure)."""

from __future__ import annotations

import base64
import binascii

from services.bootstrap.errors import InvalidArgument

_PREFIX = "home:"


def encode_token(before_id: int) -> str:
    """An opaque token: the page continues with ids strictly below ``before_id``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{before_id}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int | None:
    """The id the page continues below; None for the newest page."""
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument.field("page_token", "is not a token of this list") from None
    if not text.startswith(_PREFIX) or not text[len(_PREFIX) :].isdigit():
        raise InvalidArgument.field("page_token", "is not a token of this list")
    before = int(text[len(_PREFIX) :])
    if before <= 0 or before >= 2**63:
        raise InvalidArgument.field("page_token", "is not a token of this list")
    return before
