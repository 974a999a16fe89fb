"""AIP-158 page sizes, shared by every list of every service."""

from __future__ import annotations

import pytest

from services.platform.errors import InvalidArgument
from services.platform.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, bounded, page_size


def test_page_size_defaults_caps_and_refuses_negative() -> None:
    assert page_size(0) == DEFAULT_PAGE_SIZE == 20
    assert page_size(7) == 7
    assert page_size(10_000) == MAX_PAGE_SIZE == 100
    with pytest.raises(InvalidArgument) as refused:
        page_size(-1)
    assert refused.value.violations[0].field == "page_size"


def test_other_bounds_name_their_own_field() -> None:
    assert bounded(0, 1000, 10_000, "batch_size") == 1000
    assert bounded(20_000, 1000, 10_000, "batch_size") == 10_000
    with pytest.raises(InvalidArgument, match="batch_size: must not be negative"):
        bounded(-5, 1000, 10_000, "batch_size")
