"""AIP-158 paging: page sizes, and opaque page tokens that carry a cursor.

A token names the list it belongs to (``kind`` and the user whose list it is), so a token of
one list is refused by another. Cursors are positions (the last row shown), not offsets, so
pages stay stable while follows arrive at the head of the list; suggestions, a ranking
computed per request, are the one list paged by offset.
"""

from __future__ import annotations

import base64
import binascii
import json

from services.bootstrap.errors import InvalidArgument


def encode_token(kind: str, scope: int, cursor: list[int]) -> str:
    payload = json.dumps({"k": kind, "s": scope, "c": cursor}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(
    token: str, kind: str, scope: int, length: int, field: str = "page_token"
) -> list[int] | None:
    """The cursor of ``token``: ``length`` integers (None for an empty token, the first page)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor = payload["c"]
        matches = payload["k"] == kind and payload["s"] == scope
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise InvalidArgument.field(field, "is not a page token this service issued") from error
    if not matches:
        raise InvalidArgument.field(field, "belongs to another list; start again without it")
    if (
        not isinstance(cursor, list)
        or len(cursor) != length
        or not all(isinstance(value, int) and not isinstance(value, bool) for value in cursor)
    ):
        raise InvalidArgument.field(field, "is not a page token this service issued")
    return cursor
