"""Cancelling a long-running loop at the moment it wakes, many times over: it must stop every time.

``asyncio.wait_for`` on Python 3.11 loses a cancellation that arrives in the loop iteration in
which what it waits for completes (see ``services/platform/background.py``), so each round
cancels right after the loop was woken, 0 to 3 loop iterations later, to land on that moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from services.platform.background import STOP_SECONDS

ROUNDS = 40


async def stops_every_time(
    run: Callable[[], Awaitable[None]],
    wake: Callable[[], Awaitable[object]],
    rounds: int = ROUNDS,
) -> None:
    """Starts ``run``, awaits ``wake`` (which returns once the loop is woken or about to be),
    cancels it, and asserts that it ended, cancelled, within ``STOP_SECONDS``; ``rounds`` times."""
    for round_number in range(rounds):
        task = asyncio.ensure_future(run())
        await wake()
        for _ in range(round_number % 4):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_SECONDS)
        assert task.done(), f"round {round_number}: still running {STOP_SECONDS} s after cancel"
        assert task.cancelled(), f"round {round_number}: ended with {task.exception()!r}"
