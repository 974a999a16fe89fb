"""AIP-158 paging: page sizes, and opaque page tokens that carry a cursor.

A token names the list it belongs to (``kind`` and the resource it lists, e.g. one user's
timeline), so a token from one list is refused by another instead of silently paging the wrong
thing. Cursors are positions, not offsets: the last id (or like id, or version) a page showed,
so pages stay stable while new items arrive at the head of the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from services.platform.errors import InvalidArgument
from services.platform.paging import decode_token as decode_any
from services.platform.paging import is_int, not_a_token

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str = ""


def decode_token(token: str, kind: str, scope: int, field: str = "page_token") -> int | str | None:
    """The cursor of ``token`` (None for an empty token, i.e. the first page)."""
    cursor = decode_any(token, kind, scope, field)
    if cursor is not None and not (is_int(cursor) or isinstance(cursor, str)):
        raise InvalidArgument.field(field, "belongs to another list; start again without it")
    return cursor


def int_cursor(token: str, kind: str, scope: int, field: str = "page_token") -> int | None:
    cursor = decode_token(token, kind, scope, field)
    if cursor is not None and not isinstance(cursor, int):
        raise not_a_token(field)
    return cursor


def str_cursor(token: str, kind: str, scope: int, field: str = "page_token") -> str | None:
    cursor = decode_token(token, kind, scope, field)
    if cursor is not None and not isinstance(cursor, str):
        raise not_a_token(field)
    return cursor
