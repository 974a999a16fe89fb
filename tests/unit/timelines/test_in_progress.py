"""A long fanout tells JetStream every few seconds that it is still in progress, until it ends."""

from __future__ import annotations

import asyncio

import pytest

from services.timelines.consumers import fanout


class Message:
    """What the fanout's keep-alive needs of a JetStream message (the first call fails, as a
    call on a connection NATS dropped would: it must not stop the next)."""

    def __init__(self) -> None:
        self.marked = 0

    async def in_progress(self) -> None:
        self.marked += 1
        if self.marked == 1:
            raise ConnectionError("NATS away")


async def test_a_running_fanout_is_marked_in_progress_until_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fanout, "IN_PROGRESS_SECONDS", 0.01)
    message = Message()
    with fanout._InProgress(message):  # type: ignore[arg-type]  # noqa: SLF001
        await asyncio.sleep(0.2)
    marked = message.marked
    assert marked >= 3
    await asyncio.sleep(0.1)
    assert message.marked == marked  # nothing after the end


async def test_a_short_fanout_is_never_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "IN_PROGRESS_SECONDS", 0.05)
    message = Message()
    with fanout._InProgress(message):  # type: ignore[arg-type]  # noqa: SLF001
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)
    assert message.marked == 0
