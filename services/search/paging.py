"""Page sizes and opaque page tokens of the search lists (pure).

A token carries a fingerprint of the request it continues (``q`` and ``order``), so a token
used with another query is refused instead of silently paging something else, and one number:
the last tweet id of the page for ``latest`` (the next page is strictly older, so tweets
arriving between pages neither repeat nor skip) or an offset into a ranked list (``top``,
users, trends).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from services.bootstrap.errors import InvalidArgument


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def encode_token(bound_to: str, value: int) -> str:
    raw = f"{bound_to}:{value}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, bound_to: str) -> int | None:
    """The number the page continues from; None for the first page."""
    if not token:
        return None
    refused = InvalidArgument.field(
        "page_token", "is not a next_page_token of this list with the same query"
    )
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise refused from None
    prefix, _, value = text.rpartition(":")
    if prefix != bound_to or not value.isdigit() or int(value) >= 2**63:
        raise refused
    return int(value)
