"""The user-timeline bucket walk, over an in-memory reader (``fakes.py``; held to the Cassandra
one by tests/contracts/tweets)."""

from __future__ import annotations

from services.platform.ids import CHIRP_EPOCH_MS, compose
from services.tweets.timeline import (
    BUCKET_MS,
    MAX_BUCKETS_PER_READ,
    bucket_of,
    first_id_of,
    read_slice,
)
from tests.unit.tweets.fakes import USER, MemoryTimeline


def _id(day: float, sequence: int = 0) -> int:
    return compose(CHIRP_EPOCH_MS + int(day * 86_400_000), 1, sequence)


def test_buckets_are_30_day_periods_derived_from_the_id() -> None:
    assert BUCKET_MS == 30 * 86_400_000
    assert bucket_of(_id(0)) == 0
    assert bucket_of(_id(29.99)) == 0
    assert bucket_of(_id(30)) == 1
    assert first_id_of(1) == compose(CHIRP_EPOCH_MS + 30 * 86_400_000, 0, 0)
    assert bucket_of(first_id_of(7) - 1) == 6


async def test_pages_walk_buckets_newest_first_and_end_with_no_cursor() -> None:
    ids = [_id(day, s) for day in (1, 2, 40, 41, 95) for s in range(3)]
    timeline = MemoryTimeline(ids)
    seen: list[int] = []
    before = None
    for _ in range(10):
        page = await read_slice(timeline, USER, limit=4, before=before)
        seen += page.ids
        before = page.next_before
        if before is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert before is None


async def test_a_full_last_page_says_there_is_no_more() -> None:
    ids = [_id(1, s) for s in range(4)]
    page = await read_slice(MemoryTimeline(ids), USER, limit=4)
    assert page.ids == sorted(ids, reverse=True)
    assert page.next_before is None


async def test_pages_stay_stable_while_new_tweets_arrive() -> None:
    ids = [_id(1, s) for s in range(10)]
    timeline = MemoryTimeline(ids)
    first = await read_slice(timeline, USER, limit=5)
    timeline.rows = sorted([*ids, _id(2), _id(3)], reverse=True)  # posted meanwhile
    second = await read_slice(timeline, USER, limit=5, before=first.next_before)
    assert first.ids + second.ids == sorted(ids, reverse=True)


async def test_empty_buckets_are_walked_a_bounded_number_per_read() -> None:
    old = _id(1)
    empties = tuple(range(1, MAX_BUCKETS_PER_READ + 3))  # emptied by deletes
    timeline = MemoryTimeline([old], empty_buckets=empties)
    page = await read_slice(timeline, USER, limit=10)
    assert page.ids == []
    assert timeline.bucket_reads == MAX_BUCKETS_PER_READ
    assert page.next_before is not None
    rest = await read_slice(timeline, USER, limit=10, before=page.next_before)
    assert rest.ids == [old]
    assert rest.next_before is None


async def test_since_stops_the_walk_at_older_buckets() -> None:
    ids = [_id(day) for day in (1, 31, 61, 91)]
    timeline = MemoryTimeline(ids)
    page = await read_slice(timeline, USER, limit=10, since=_id(40))
    assert page.ids == [_id(91), _id(61)]
    assert timeline.bucket_reads == 3  # buckets 3, 2 and 1 (days 30-59 hold day 40); not 0
