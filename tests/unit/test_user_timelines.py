"""Kept user timeline ids as the readers see them (the Redis side: tests/integration/tweets)."""

from __future__ import annotations

import struct

import pytest

from services.platform.caches.user_timelines import PackedIds, ids_below

BIG = 2**62


def test_packed_ids_read_like_the_list_they_pack() -> None:
    ids = [BIG + 9, BIG + 7, BIG + 5, BIG + 3]
    packed = PackedIds(b"head" + struct.pack(">4q", *ids), 4)
    assert list(packed) == ids
    assert (len(packed), packed[0], packed[-1]) == (4, BIG + 9, BIG + 3)
    assert packed[1:3] == [BIG + 7, BIG + 5]
    assert list(packed[3:]) == [BIG + 3]
    with pytest.raises(IndexError):
        packed[4]


@pytest.mark.parametrize("ids", [[BIG + 9, BIG + 7, BIG + 5, BIG + 3], []])
def test_the_ids_below_a_cursor_are_found_by_bisection(ids: list[int]) -> None:
    packed = PackedIds(struct.pack(f">{len(ids)}q", *ids))
    for before in (None, BIG + 10, BIG + 7, BIG + 6, BIG + 3, BIG):
        expected = [i for i in ids if before is None or i < before]
        assert list(ids_below(packed, before)) == expected
        assert list(ids_below(ids, before)) == expected
