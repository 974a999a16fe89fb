"""Byte ranges and entity tags of the media content server (``services.media.routes``)."""

from __future__ import annotations

import pytest

from services.media.routes import Unsatisfiable, byte_range, matches

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),  # a suffix longer than the content is all of it
        ("bytes=990-5000", (990, 999)),  # the end is clipped to the content
        ("bytes=999-999", (999, 999)),
        (" bytes=0-0 ", (0, 0)),
    ],
)
def test_one_range_is_answered(header: str, expected: tuple[int, int]) -> None:
    assert byte_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [None, "", "bytes=", "bytes=-", "items=0-10", "bytes=0-10,20-30", "bytes=10-5", "bytes=a-b"],
)
def test_what_cannot_be_answered_as_one_range_gets_the_whole(header: str | None) -> None:
    assert byte_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", SIZE), ("bytes=-0", SIZE), ("bytes=0-", 0)]
)
def test_a_range_past_the_end_is_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, size)


def test_if_none_match_compares_weakly_and_takes_lists_and_star() -> None:
    etag = '"abc"'
    assert matches('"abc"', etag)
    assert matches('W/"abc"', etag)
    assert matches('"x", "abc"', etag)
    assert matches("*", etag)
    assert not matches('"abcd"', etag)
    assert not matches(None, etag)
