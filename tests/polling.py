"""Waiting for what happens eventually (events consumed, caches expiring), with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: How long a test waits for something asynchronous before it fails.
WAIT_SECONDS = 15.0


async def eventually(
    check: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = WAIT_SECONDS
) -> T:
    """Polls ``check`` until ``done`` (fails after ``seconds``); returns the last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {seconds}s"
        await asyncio.sleep(0.05)


def polled(
    read: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    seconds: float = WAIT_SECONDS,
    every: float = 0.5,
) -> T:
    """``eventually`` for a synchronous ``read`` (an HTTP API polled every ``every`` seconds);
    the failure names ``what`` was awaited."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what}: still {value!r} after {seconds:.0f}s"
        time.sleep(every)
