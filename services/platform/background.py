"""Work that runs in the background of a service process, and stops when cancelled, every time.

On Python 3.11, ``asyncio.wait_for`` returns the inner result instead of raising when its task is
cancelled in the same loop iteration in which the inner awaitable completes: the cancellation is
lost, and a ``while True`` loop around it runs forever (a service that never stops on SIGTERM, a
test teardown that hangs). Libraries do the same (nats-py's ``next_msg`` is a ``wait_for``, and
turns some cancellations into ``ConnectionClosedError``). Hence three rules, in this module:

- Chirp's code never calls ``wait_for``: ``wait_set`` and ``asyncio.timeout`` keep a cancellation.
- Every long-running loop goes round with ``for _ in rounds():``, which raises ``CancelledError``
  as soon as its task has a cancellation pending, even one that a library swallowed
  (``Task.cancelling()`` stays raised until someone deliberately ``uncancel``s).
- ``in_background`` runs a loop for the life of a context and, on the way out, waits at most
  ``STOP_SECONDS`` for it to stop; a loop that does not is an error naming it, with its stack
  logged, instead of a hang.

A thread cannot be cancelled: ``in_thread`` runs blocking work in one and, when cancelled, waits
for the work to end before raising, so a lock held around it is not released while it still
runs (a cancelled Tantivy commit must not overlap the next write, nor the index's close).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType
from typing import Any, ParamSpec, TypeVar

import structlog

log = structlog.get_logger()
T = TypeVar("T")
P = ParamSpec("P")

#: How long a cancelled background task may take to stop before that is an error.
STOP_SECONDS = 5.0


class DidNotStop(RuntimeError):
    """A background task went on running after it was cancelled."""


def raise_if_cancelled() -> None:
    """Raises ``CancelledError`` if the current task was asked to stop, whether or not the
    request was delivered (or swallowed on the way)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def rounds() -> Iterator[int]:
    """The rounds of a long-running loop, until its task is cancelled: ``for _ in rounds():``."""
    for round_number in itertools.count():
        raise_if_cancelled()
        yield round_number


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Waits up to ``seconds`` for ``event``; True if it was set. Unlike ``wait_for``, a
    cancellation that arrives as the event is set is never lost."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
        return True
    return False


async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``asyncio.to_thread``, except that a cancellation takes effect once the call has
    returned (and its result is dropped)."""
    future = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({future})
        raise


async def until_stopped() -> None:
    """Returns once the process is asked to stop (SIGTERM, or SIGINT: Ctrl-C)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()


async def pause(seconds: float) -> None:
    """``asyncio.sleep`` for loops: it returns early, raising, if a cancellation is pending."""
    raise_if_cancelled()
    await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def in_background(run: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """Runs ``run`` as a task for the life of the context, cancelling it on the way out and
    raising ``DidNotStop`` if it is still running ``STOP_SECONDS`` later. An error the task
    ended with is raised here too, so it is not lost."""
    name = getattr(run, "__qualname__", repr(run))
    task = asyncio.ensure_future(run())
    try:
        yield
    finally:
        await stop(task, name)


async def stop(task: asyncio.Future[None], name: str) -> None:
    """Cancels ``task`` and waits, at most ``STOP_SECONDS``, for it to end."""
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_SECONDS)
    if not task.done():
        stack = awaiting_stack(task) if isinstance(task, asyncio.Task) else ""
        log.error("background task did not stop when cancelled", task=name, stack=stack)
        raise DidNotStop(f"{name} still running {STOP_SECONDS:.0f} s after it was cancelled")
    error = None if task.cancelled() else task.exception()
    if error is not None:
        raise error


def awaiting_stack(task: asyncio.Task[Any]) -> str:
    """Where ``task`` waits: every coroutine down its chain of awaits, outermost first (a
    task's own ``print_stack`` shows only the outermost one)."""
    frames: list[tuple[FrameType, int]] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is None:
            break
        frames.append((frame, frame.f_lineno))
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    lines = traceback.StackSummary.extract(iter(frames)).format()
    return f"{task.get_name()} awaiting (outermost first):\n" + "".join(lines)
