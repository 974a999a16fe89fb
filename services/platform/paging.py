"""AIP-158 paging, the same in every list of every service.

Page sizes: 0 means the default (20), more than the most (100) is lowered to it, negative is
INVALID_ARGUMENT naming the field. Page tokens: opaque (URL-safe base64 of a small JSON object)
and bound to the list they page (``kind``, e.g. a list name or a fingerprint of a query, and
``scope``, e.g. the user whose list it is), so a token of one list is refused by another instead
of silently paging the wrong thing; each service checks the cursor it carries.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TypeGuard

from services.platform.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def bounded(requested: int, default: int, most: int, field: str = "page_size") -> int:
    """0 means ``default``, more than ``most`` is lowered to it, negative is refused."""
    if requested < 0:
        raise InvalidArgument.field(field, "must not be negative")
    return default if requested == 0 else min(requested, most)


def page_size(requested: int, field: str = "page_size") -> int:
    return bounded(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, field)


#: What a page token carries: a position (an id, a sort key, several of them) or an offset.
Cursor = int | str | list[int]


def encode_token(kind: str, scope: int, cursor: Cursor) -> str:
    payload = json.dumps({"k": kind, "s": scope, "c": cursor}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, kind: str, scope: int, field: str = "page_token") -> object:
    """The cursor ``token`` carries, for the caller to check (None for an empty token: the first
    page). INVALID_ARGUMENT if it is not a token at all or belongs to another list."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor = payload["c"]
        matches = payload["k"] == kind and payload["s"] == scope
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise not_a_token(field) from error
    if not matches:
        raise InvalidArgument.field(field, "belongs to another list; start again without it")
    return cursor


def not_a_token(field: str = "page_token") -> InvalidArgument:
    return InvalidArgument.field(field, "is not a page token this service issued")


def is_int(value: object) -> TypeGuard[int]:
    """An integer cursor (JSON ``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def decode_int(token: str, kind: str, scope: int, field: str = "page_token") -> int | None:
    """The non-negative 64-bit integer ``token`` carries (an id or an offset); None for the
    first page."""
    cursor = decode_token(token, kind, scope, field)
    if cursor is None:
        return None
    if not is_int(cursor) or not 0 <= cursor < 2**63:
        raise not_a_token(field)
    return cursor
