"""AIP-158 paging, the same in every list of every service.

Page sizes: 0 means the default (20), more than the most (100) is lowered to it, negative is
INVALID_ARGUMENT naming the field. Page tokens: opaque (URL-safe base64 of a small JSON object)
and bound to the list they page (``kind``, e.g. a list name or a fingerprint of a query, and
``scope``, e.g. the user whose list it is), so a token of one list is refused by another instead
of silently paging the wrong thing. The domain encodes and decodes its own tokens (a servicer
passes ``page_token`` through as it came); a decoder checks the type of cursor its list uses.
Cursors are positions (the last row shown), not offsets, so pages stay stable while new items
arrive at the head of a list; rankings computed per request (search's "top", suggestions,
trends) are the lists paged by offset.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Generic, TypeGuard, TypeVar

from services.platform.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: The request field that carries a page token, in every list.
CURSOR_FIELD = "page_token"

T = TypeVar("T")

#: Lists whose tokens carry the id a page continues below (the page shows ids below it): another
#: service may start such a list at any id (the Mastodon API's ``max_id``) with
#: ``encode_token(<list>, <scope>, id)``. The home timeline's scope is 0 (a reader's own list),
#: a user timeline's the author's id, the public timeline's (everyone's tweets) 0.
HOME_TIMELINE = "home"
USER_TWEETS = "user_tweets"
PUBLIC_TIMELINE = "public"


def bounded(requested: int, default: int, most: int, field: str = "page_size") -> int:
    """0 means ``default``, more than ``most`` is lowered to it, negative is refused."""
    if requested < 0:
        raise InvalidArgument.field(field, "must not be negative")
    return default if requested == 0 else min(requested, most)


def page_size(requested: int, field: str = "page_size") -> int:
    return bounded(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, field)


#: What a page token carries: a position (an id, a sort key, several of them) or an offset.
Cursor = int | str | list[int]


@dataclass(frozen=True)
class Page(Generic[T]):
    """A page of a list, and the token of the next one ("" after the last)."""

    items: list[T] = field(default_factory=list)
    next_token: str = ""


def encode_token(kind: str, scope: int, cursor: Cursor) -> str:
    payload = json.dumps({"k": kind, "s": scope, "c": cursor}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_int(token: str, kind: str, scope: int) -> int | None:
    """The non-negative 64-bit integer ``token`` carries (an id or an offset)."""
    cursor = _decode(token, kind, scope)
    if cursor is not None and not _is_id(cursor):
        raise _not_a_token()
    return cursor


def decode_str(token: str, kind: str, scope: int) -> str | None:
    """The string ``token`` carries (a sort key)."""
    cursor = _decode(token, kind, scope)
    if cursor is not None and not isinstance(cursor, str):
        raise _not_a_token()
    return cursor


def decode_ints(token: str, kind: str, scope: int, length: int) -> list[int] | None:
    """The ``length`` integers ``token`` carries (a compound position)."""
    cursor = _decode(token, kind, scope)
    if cursor is not None and not (
        isinstance(cursor, list) and len(cursor) == length and all(map(_is_int, cursor))
    ):
        raise _not_a_token()
    return cursor


def _decode(token: str, kind: str, scope: int) -> object:
    """The cursor ``token`` carries, for the typed decoders above to check (None for an empty
    token: the first page). INVALID_ARGUMENT if it is not a token at all or belongs to another
    list."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor = payload["c"]
        matches = payload["k"] == kind and payload["s"] == scope
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise _not_a_token() from error
    if not matches:
        raise InvalidArgument.field(CURSOR_FIELD, "belongs to another list; start again without it")
    return cursor


def _not_a_token() -> InvalidArgument:
    return InvalidArgument.field(CURSOR_FIELD, "is not a page token this service issued")


def _is_int(value: object) -> TypeGuard[int]:
    """An integer cursor (JSON ``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: object) -> TypeGuard[int]:
    return _is_int(value) and 0 <= value < 2**63
