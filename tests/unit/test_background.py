"""The loop primitives: what loses a cancellation, and what Chirp's loops use instead."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest

from services.platform import background
from services.platform.background import DidNotStop, in_background, in_thread, rounds, wait_set
from tests.cancellation import stops_every_time


async def test_wait_for_loses_a_cancellation_that_arrives_as_the_event_is_set() -> None:
    """The cause of the hang: Python 3.11's ``wait_for`` returns instead of raising. If a later
    Python fixes it, this fails, and the workarounds can be reconsidered."""
    event = asyncio.Event()
    task = asyncio.ensure_future(asyncio.wait_for(event.wait(), 10))
    await asyncio.sleep(0)
    event.set()
    task.cancel()
    assert await task is True  # the cancellation was swallowed


async def test_wait_set_never_loses_it() -> None:
    event = asyncio.Event()

    async def idle() -> None:
        for _ in rounds():
            event.clear()
            await wait_set(event, 10)

    async def wake() -> None:
        await asyncio.sleep(0)
        event.set()

    await stops_every_time(idle, wake, rounds=200)


async def test_wait_set_tells_set_from_timed_out() -> None:
    event = asyncio.Event()
    assert not await wait_set(event, 0.01)
    event.set()
    assert await wait_set(event, 0.01)


async def test_rounds_end_a_loop_whose_cancellation_a_library_swallowed() -> None:
    event = asyncio.Event()

    async def swallowing() -> None:
        for _ in rounds():
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 10)  # what nats-py does inside next_msg

    async def wake() -> None:
        await asyncio.sleep(0)
        event.set()

    await stops_every_time(swallowing, wake, rounds=200)


async def test_a_background_task_that_ignores_cancellation_fails_naming_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(background, "STOP_SECONDS", 0.2)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(1)

    with pytest.raises(DidNotStop, match=r"stubborn still running"):
        async with in_background(stubborn):
            await asyncio.sleep(0)
    release.set()


async def test_a_background_task_that_failed_raises_its_error_on_exit() -> None:
    async def failing() -> None:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        async with in_background(failing):
            await asyncio.sleep(0.01)


async def test_work_in_a_thread_ends_before_its_cancellation_does() -> None:
    """A lock around it is then held until the thread has really finished."""
    finished = threading.Event()

    def work() -> int:
        time.sleep(0.2)
        finished.set()
        return 1

    lock = asyncio.Lock()

    async def guarded() -> int:
        async with lock:
            return await in_thread(work)

    task = asyncio.ensure_future(guarded())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()
    assert not lock.locked()
    assert await in_thread(lambda: 2) == 2
