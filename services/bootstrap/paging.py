"""AIP-158 page sizes, the same in every list of every service: 0 means the default (20), more
than the most (100) is lowered to it, negative is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

from services.bootstrap.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def bounded(requested: int, default: int, most: int, field: str = "page_size") -> int:
    """0 means ``default``, more than ``most`` is lowered to it, negative is refused."""
    if requested < 0:
        raise InvalidArgument.field(field, "must not be negative")
    return default if requested == 0 else min(requested, most)


def page_size(requested: int, field: str = "page_size") -> int:
    return bounded(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, field)
