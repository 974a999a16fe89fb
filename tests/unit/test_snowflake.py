"""Snowflake ids with a controlled clock: layout, ordering, clock steps, lapsed leases."""

from __future__ import annotations

import asyncio

import pytest

from services.platform.errors import Unavailable
from services.platform.ids import (
    CHIRP_EPOCH_MS,
    MAX_BORROW_MS,
    MAX_SEQUENCE,
    Snowflake,
    compose,
    timestamp_ms,
    worker_of,
)


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


START = CHIRP_EPOCH_MS + 1_000_000


def test_the_layout_round_trips() -> None:
    snowflake = compose(START, worker=1023, sequence=4095)
    assert timestamp_ms(snowflake) == START
    assert worker_of(snowflake) == 1023
    assert snowflake & MAX_SEQUENCE == 4095
    assert snowflake < 2**63  # fits a signed 64-bit column


def test_ids_increase_within_and_across_milliseconds() -> None:
    clock = Clock(START)
    generator = Snowflake(7, clock=clock)
    first = [generator.next_id() for _ in range(10)]
    clock.now_ms += 1
    later = generator.next_id()
    assert first == sorted(set(first))
    assert later > first[-1]
    assert timestamp_ms(later) == START + 1


def test_a_full_millisecond_borrows_the_next_one() -> None:
    generator = Snowflake(7, clock=Clock(START))
    ids = [generator.next_id() for _ in range(MAX_SEQUENCE + 2)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert timestamp_ms(ids[-1]) == START + 1


def test_a_clock_that_steps_back_never_repeats_an_id() -> None:
    clock = Clock(START)
    generator = Snowflake(7, clock=clock)
    before = [generator.next_id() for _ in range(5)]
    clock.now_ms -= 1_000  # NTP stepped the clock back by a second
    after = [generator.next_id() for _ in range(5)]
    assert after[0] > before[-1]
    assert len(set(before + after)) == 10


def test_a_clock_far_behind_stops_issuing() -> None:
    clock = Clock(START)
    generator = Snowflake(7, clock=clock)
    generator.next_id()
    clock.now_ms -= MAX_BORROW_MS + 10
    with pytest.raises(Unavailable, match="clock stepped back"):
        [generator.next_id() for _ in range(MAX_SEQUENCE + 2)]


def test_a_new_holder_starts_after_the_previous_high_water_mark() -> None:
    generator = Snowflake(7, start_after_ms=START + 500, clock=Clock(START))
    assert timestamp_ms(generator.next_id()) == START + 501


def test_no_ids_without_a_valid_lease() -> None:
    valid = True
    generator = Snowflake(7, clock=Clock(START), is_valid=lambda: valid)
    generator.next_id()
    valid = False
    with pytest.raises(Unavailable, match="no id lease"):
        generator.next_id()


async def test_an_id_waits_for_a_lease_being_renewed() -> None:
    valid = False
    generator = Snowflake(7, clock=Clock(START), is_valid=lambda: valid)

    async def renewed() -> None:
        nonlocal valid
        await asyncio.sleep(0.2)
        valid = True

    renewal = asyncio.create_task(renewed())
    assert timestamp_ms(await generator.issue()) == START
    await renewal


async def test_an_id_is_refused_once_the_lease_stays_lapsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("services.platform.ids.LEASE_WAIT_SECONDS", 0.2)
    generator = Snowflake(7, clock=Clock(START), is_valid=lambda: False)
    with pytest.raises(Unavailable, match="no id lease"):
        await generator.issue()


def test_worker_ids_are_ten_bits() -> None:
    with pytest.raises(ValueError, match="outside"):
        Snowflake(1024)
