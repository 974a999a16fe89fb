"""AIP-158 paging: page sizes, and opaque page tokens that carry a cursor.

A token names the list it belongs to (``kind`` and the resource it lists, e.g. one user's
timeline), so a token from one list is refused by another instead of silently paging the wrong
thing. Cursors are positions, not offsets: the last id (or like id, or version) a page showed,
so pages stay stable while new items arrive at the head of the list.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.bootstrap.errors import InvalidArgument

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str = ""


def encode_token(kind: str, scope: int, cursor: int | str) -> str:
    payload = json.dumps({"k": kind, "s": scope, "c": cursor}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, kind: str, scope: int, field: str = "page_token") -> int | str | None:
    """The cursor of ``token`` (None for an empty token, i.e. the first page)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor = payload["c"]
        matches = payload["k"] == kind and payload["s"] == scope
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise InvalidArgument.field(field, "is not a page token this service issued") from error
    if not matches or not isinstance(cursor, int | str) or isinstance(cursor, bool):
        raise InvalidArgument.field(field, "belongs to another list; start again without it")
    return cursor


def int_cursor(token: str, kind: str, scope: int, field: str = "page_token") -> int | None:
    cursor = decode_token(token, kind, scope, field)
    if cursor is not None and not isinstance(cursor, int):
        raise InvalidArgument.field(field, "is not a page token this service issued")
    return cursor


def str_cursor(token: str, kind: str, scope: int, field: str = "page_token") -> str | None:
    cursor = decode_token(token, kind, scope, field)
    if cursor is not None and not isinstance(cursor, str):
        raise InvalidArgument.field(field, "is not a page token this service issued")
    return cursor
