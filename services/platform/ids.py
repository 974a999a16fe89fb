"""Snowflake ids: 41 bits of milliseconds since the Chirp epoch, 10 of worker, 12 of sequence.

Ids sort by creation time, carry it (``timestamp_ms``), and are unique as long as no two live
processes share a worker id. Worker ids are leased in Redis: a process holds one while it
renews the lease, and stops issuing ids the moment its lease may have lapsed, so a paused or
partitioned process can never issue ids under a worker id someone else has taken over.

A clock that steps back does not repeat ids: the generator keeps counting from the last
millisecond it used (borrowing milliseconds ahead when a millisecond's 4,096 sequence numbers
run out), and refuses once it would run more than ``MAX_BORROW_MS`` ahead of the wall clock. A
new holder of a worker id starts after the last millisecond the previous holder recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import structlog

from services.platform.background import in_background, pause, rounds
from services.platform.errors import Unavailable
from services.platform.resp import RespClient, Script

#: 2026-01-01T00:00:00Z: ids start small and last 69 years from here.
CHIRP_EPOCH_MS = 1_767_225_600_000
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_BORROW_MS = 2_000
#: How long ``issue`` waits for a lease being renewed or replaced before answering UNAVAILABLE:
#: a Redis failover or a lapsed lease is over in a few seconds, and a client's registration or
#: post should wait that out rather than fail.
LEASE_WAIT_SECONDS = 5.0
#: How often ``issue`` looks again while it waits.
LEASE_POLL_SECONDS = 0.05
#: How soon the renewer tries again while the lease is not valid (ids are waiting for it).
LEASE_RETRY_SECONDS = 0.5

log = structlog.get_logger()


def compose(timestamp_ms: int, worker: int, sequence: int) -> int:
    return (
        ((timestamp_ms - CHIRP_EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS))
        | (worker << SEQUENCE_BITS)
        | sequence
    )


def timestamp_ms(snowflake: int) -> int:
    """When the id was issued, in Unix milliseconds."""
    return (snowflake >> (WORKER_BITS + SEQUENCE_BITS)) + CHIRP_EPOCH_MS


def worker_of(snowflake: int) -> int:
    return (snowflake >> SEQUENCE_BITS) & MAX_WORKER


class IdGenerator(Protocol):
    async def issue(self) -> int:
        """A new id, waiting a moment for the lease if this process is between two."""
        ...


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Snowflake:
    """Issues ids for one worker id while ``is_valid()`` says its lease holds."""

    def __init__(
        self,
        worker: int,
        *,
        start_after_ms: int = 0,
        clock: Callable[[], int] = wall_clock_ms,
        is_valid: Callable[[], bool] = lambda: True,
    ) -> None:
        if not 0 <= worker <= MAX_WORKER:
            raise ValueError(f"worker id {worker} is outside 0..{MAX_WORKER}")
        self.worker = worker
        self._clock = clock
        self._is_valid = is_valid
        self._last_ms = start_after_ms
        self._sequence = MAX_SEQUENCE  # the next id moves past start_after_ms

    @property
    def last_ms(self) -> int:
        return self._last_ms

    def rebind(self, worker: int, start_after_ms: int) -> None:
        """Continues under a newly leased worker id, after that id's recorded high-water mark."""
        self.worker = worker
        if start_after_ms >= self._last_ms:
            self._last_ms, self._sequence = start_after_ms, MAX_SEQUENCE

    async def issue(self) -> int:
        """A new id, waiting up to ``LEASE_WAIT_SECONDS`` for the lease to be renewed or replaced
        (validity is a deadline on the monotonic clock that renewals move, so it is polled)."""
        deadline = time.monotonic() + LEASE_WAIT_SECONDS
        while not self._is_valid() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(LEASE_POLL_SECONDS)
        return self.next_id()

    def next_id(self) -> int:
        """A new id now, or UNAVAILABLE if the lease may have lapsed."""
        if not self._is_valid():
            raise Unavailable("this process holds no id lease right now; retry shortly")
        now = self._clock()
        if now > self._last_ms:
            self._last_ms, self._sequence = now, 0
        elif self._sequence < MAX_SEQUENCE:
            self._sequence += 1
        else:
            if self._last_ms + 1 - now > MAX_BORROW_MS:
                raise Unavailable("the clock stepped back too far to issue ids; retry shortly")
            self._last_ms, self._sequence = self._last_ms + 1, 0
        return compose(self._last_ms, self.worker, self._sequence)


# Renews only a lease this process still owns, and records how far its ids have gone.
_RENEW = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], ARGV[3])
  return 1
end
return 0
""")
# Frees a lease this process still owns, recording the last millisecond its ids used.
_RELEASE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return redis.call('DEL', KEYS[1])
end
return 0
""")


class WorkerLease:
    """A worker id leased in Redis, renewed in the background while it is held."""

    def __init__(
        self,
        redis: RespClient,
        namespace: str,
        ttl_ms: int = 15_000,
        renew_every_ms: int = 3_000,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._namespace = namespace
        self._ttl_ms = ttl_ms
        self._renew_every_ms = renew_every_ms
        self._monotonic = monotonic
        self._token = uuid.uuid4().hex
        self._valid_until = 0.0
        self.worker = -1

    @property
    def renew_every_seconds(self) -> float:
        return self._renew_every_ms / 1000

    def _key(self, worker: int) -> str:
        return f"{self._namespace}:worker:{worker}"

    def _high_water_key(self, worker: int) -> str:
        """In the lease's hash slot (its whole key as the hash tag), as ``_RENEW`` takes both."""
        return f"{{{self._key(worker)}}}:last-ms"

    def is_valid(self) -> bool:
        """True while the lease is certainly still ours (a margin before its TTL runs out)."""
        return self._monotonic() < self._valid_until

    def _held_from(self, asked: float) -> None:
        """Redis set the TTL after ``asked``, so the key lives at least a TTL from then; a tenth
        of it is kept as margin for clock rates. The window spans several renewals, so a renewal
        that stalls for a command timeout on a loaded machine does not stop the ids."""
        self._valid_until = asked + self._ttl_ms * 0.9 / 1000

    async def acquire(self) -> int:
        """Takes a free worker id and returns the millisecond its ids must start after."""
        for worker in random.sample(range(MAX_WORKER + 1), MAX_WORKER + 1):
            asked = self._monotonic()
            taken = ("SET", self._key(worker), self._token, "NX", "PX", self._ttl_ms)
            if await self._redis.call(*taken):
                self.worker = worker
                self._held_from(asked)
                recorded = await self._redis.call("GET", self._high_water_key(worker))
                return int(recorded) if recorded else 0
        raise Unavailable("all 1,024 worker ids are leased")

    async def renew(self, last_ms: int) -> bool:
        """Extends the lease and records a high-water mark for the next holder of this id: a
        TTL past the last millisecond used (or now), since ids may go on until the lease ends."""
        asked = self._monotonic()
        high_water = max(last_ms, wall_clock_ms()) + self._ttl_ms
        renewed = await self._redis.run(
            _RENEW,
            [self._key(self.worker), self._high_water_key(self.worker)],
            [self._token, self._ttl_ms, high_water],
        )
        if renewed:
            self._held_from(asked)
        else:
            self._valid_until = 0.0
        return bool(renewed)

    async def release(self, last_ms: int) -> None:
        """Frees the worker id, its high-water mark the last millisecond used: no id is issued
        after this, so the next holder need not wait for the renewal's mark (a TTL ahead)."""
        self._valid_until = 0.0
        await self._redis.run(
            _RELEASE,
            [self._key(self.worker), self._high_water_key(self.worker)],
            [self._token, last_ms],
        )


@contextlib.asynccontextmanager
async def leased_snowflake(
    redis: RespClient, namespace: str = "chirp:snowflake", *, renew_every_ms: int = 3_000
) -> AsyncIterator[Snowflake]:
    """A Snowflake generator on a leased worker id, renewed until the context exits.

    If a renewal fails (Redis down, or the lease lapsed and was taken), the generator stops
    issuing ids at once; the renewer keeps trying and, if the id was taken over, leases a new
    worker id, continuing after the new id's recorded high-water mark.
    """
    lease = WorkerLease(redis, namespace, renew_every_ms=renew_every_ms)
    start_after = await lease.acquire()
    generator = Snowflake(lease.worker, start_after_ms=start_after, is_valid=lease.is_valid)

    async def keep_renewed() -> None:
        for _ in rounds():
            await pause(lease.renew_every_seconds if lease.is_valid() else LEASE_RETRY_SECONDS)
            try:
                if await lease.renew(generator.last_ms):
                    continue
                log.warning("id lease lost; leasing another worker id", worker=lease.worker)
                start_after = await lease.acquire()
                generator.rebind(lease.worker, start_after)
            except Exception:
                log.warning("id lease renewal failed", worker=lease.worker, exc_info=True)

    try:
        async with in_background(keep_renewed):
            yield generator
    finally:
        with contextlib.suppress(Exception):
            await lease.release(generator.last_ms)
