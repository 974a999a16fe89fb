"""Deadlines of calls to other services: each call's own limit, never past the deadline of the
call being served.

A service that answers a call with a deadline (``grpc-timeout``) and calls another service to
do so passes the time that is left on: a callee keeps working only as long as someone waits
for its answer, and a chain of calls cannot outlive its first caller. The server interceptor
binds the time left (``serving``) for the length of the call; ``channels.CallerContext`` gives
every unary call the smaller of its channel's limit and what is left (``budget``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The limit of a call to another service where its channel names none.
DEFAULT_SECONDS = 5.0
#: What a call gets when the call being served has run out of time: it fails at once with
#: DEADLINE_EXCEEDED, as the caller already has.
EXPIRED_SECONDS = 0.001

#: When the call being served must be answered (``time.monotonic()``); None: no deadline.
_ANSWER_BY: ContextVar[float | None] = ContextVar("answer_by", default=None)


@contextmanager
def serving(time_remaining: float | None) -> Iterator[None]:
    """The caller of the call being served waits ``time_remaining`` seconds more (None: for
    as long as it takes)."""
    answer_by = None if time_remaining is None else time.monotonic() + time_remaining
    token = _ANSWER_BY.set(answer_by)
    try:
        yield
    finally:
        _ANSWER_BY.reset(token)


def budget(limit: float) -> float:
    """How long a call to another service may take: ``limit``, or less if the call being
    served must be answered sooner."""
    answer_by = _ANSWER_BY.get()
    if answer_by is None:
        return limit
    return max(min(limit, answer_by - time.monotonic()), EXPIRED_SECONDS)
