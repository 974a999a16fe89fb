"""AIP-158 paging: page sizes, and opaque page tokens that carry a cursor.

A token names the list it belongs to (``kind`` and the user whose list it is), so a token of
one list is refused by another. Cursors are positions (the last row shown), not offsets, so
pages stay stable while follows arrive at the head of the list; suggestions, a ranking
computed per request, are the one list paged by offset.
"""

from __future__ import annotations

from services.platform.paging import decode_token as decode_any
from services.platform.paging import is_int, not_a_token


def decode_token(
    token: str, kind: str, scope: int, length: int, field: str = "page_token"
) -> list[int] | None:
    """The cursor of ``token``: ``length`` integers (None for an empty token, the first page)."""
    cursor = decode_any(token, kind, scope, field)
    if cursor is None:
        return None
    if not isinstance(cursor, list) or len(cursor) != length or not all(map(is_int, cursor)):
        raise not_a_token(field)
    return cursor
