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
