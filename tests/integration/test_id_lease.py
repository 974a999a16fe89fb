"""Worker-id leases in the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from services.platform.ids import WorkerLease, leased_snowflake, timestamp_ms
from services.platform.resp import RespClient


@pytest.fixture
async def namespace(redis: Redis) -> AsyncIterator[str]:
    name = f"test:snowflake:{uuid.uuid4().hex}"
    yield name
    # The leases, and their high-water marks (``{<lease>}:last-ms``).
    keys = [key async for key in redis.scan_iter(f"*{name}:*")]
    if keys:
        await redis.delete(*keys)


async def test_live_leases_never_share_a_worker_id(resp: RespClient, namespace: str) -> None:
    leases = [WorkerLease(resp, namespace) for _ in range(50)]
    await asyncio.gather(*(lease.acquire() for lease in leases))
    assert len({lease.worker for lease in leases}) == 50
    assert all(lease.is_valid() for lease in leases)
    await asyncio.gather(*(lease.release(last_ms=0) for lease in leases))


async def test_a_lease_taken_over_is_not_renewed(
    resp: RespClient, redis: Redis, namespace: str
) -> None:
    lease = WorkerLease(resp, namespace, ttl_ms=5_000, renew_every_ms=1_000)
    await lease.acquire()
    await redis.set(f"{namespace}:worker:{lease.worker}", "someone-else")
    assert not await lease.renew(last_ms=0)
    assert not lease.is_valid()


async def test_a_lease_outlives_a_stalled_renewal(resp: RespClient, namespace: str) -> None:
    """Ids go on while a renewal waits out a command timeout on a loaded machine: the lease
    is held for most of its TTL after each renewal, not only until the next one is due."""
    now = [100.0]
    lease = WorkerLease(
        resp, namespace, ttl_ms=15_000, renew_every_ms=3_000, monotonic=lambda: now[0]
    )
    await lease.acquire()
    now[0] += 3 + 5 + 3  # a renewal due at 3 s times out at 8 s; the next one is due at 11 s
    assert lease.is_valid()
    assert await lease.renew(last_ms=0)
    now[0] += 13.4
    assert lease.is_valid()
    now[0] += 0.2  # within a tenth of the TTL of its expiry in Redis: no longer certainly ours
    assert not lease.is_valid()
    await lease.release(last_ms=0)


async def test_the_next_holder_starts_after_the_recorded_high_water_mark(
    resp: RespClient, redis: Redis, namespace: str
) -> None:
    """After a lease that lapsed, a TTL past the millisecond of its last renewal (its ids may
    have gone on until then); after one released, right after the last millisecond it used."""
    first = WorkerLease(resp, namespace, ttl_ms=5_000, renew_every_ms=1_000)
    await first.acquire()
    far_ahead = 10**13
    assert await first.renew(last_ms=far_ahead)
    # Only that worker id is free once it lapses: every other one is taken by someone else.
    await redis.mset({f"{namespace}:worker:{w}": "other" for w in range(1024) if w != first.worker})
    await redis.delete(f"{namespace}:worker:{first.worker}")  # the lease lapsed
    second = WorkerLease(resp, namespace)
    assert await second.acquire() == far_ahead + 5_000
    assert second.worker == first.worker
    await second.release(last_ms=far_ahead + 7_000)
    third = WorkerLease(resp, namespace)
    assert await third.acquire() == far_ahead + 7_000
    assert third.worker == first.worker


async def test_a_leased_generator_issues_unique_ordered_ids(
    resp: RespClient, redis: Redis, namespace: str
) -> None:
    async with leased_snowflake(resp, namespace) as generator:
        ids = [generator.next_id() for _ in range(10_000)]
    assert ids == sorted(set(ids))
    assert abs(timestamp_ms(ids[-1]) - timestamp_ms(ids[0])) < 60_000
    assert await redis.get(f"{namespace}:worker:{generator.worker}") is None  # released
