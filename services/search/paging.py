"""Page sizes and opaque page tokens of the search lists (pure).

A token carries a fingerprint of the request it continues (``q`` and ``order``), so a token
used with another query is refused instead of silently paging something else, and one number:
the last tweet id of the page for ``latest`` (the next page is strictly older, so tweets
arriving between pages neither repeat nor skip) or an offset into a ranked list (``top``,
users, trends).
"""

from __future__ import annotations

import hashlib

from services.platform import paging


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def encode_token(bound_to: str, value: int) -> str:
    return paging.encode_token(bound_to, 0, value)


def decode_token(token: str, bound_to: str) -> int | None:
    """The number the page continues from; None for the first page."""
    return paging.decode_int(token, bound_to, 0)
