"""SIGKILL a fanout worker in the middle of a 20,000-follower fanout, start it again: every
active follower ends up with the tweet exactly once, and no inactive one gets a timeline. The
same with the fanout shared in parts over two workers, one of them killed mid-way.

The stack's threshold makes 20,000 followers a celebrity, so the fanout under test runs in a
worker process of its own (tests/integration/timelines/fanout_worker.py: the real worker and
store on a test consumer, threshold off, slowed down to be killable mid-way). The followers
are written straight into Neo4j (20,000 follows through the API would take minutes) with
consistent counts, and deleted afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from services.graph.adapters.store import follow_rank
from services.timelines.adapters.store import SENTINEL, home_key, member
from tests.integration.graph.support import neo4j_driver
from tests.integration.streams import temporary_consumer
from tests.integration.timelines.fanout_worker import killable_consumer, killable_parts_consumer
from tests.integration.timelines.support import GATEWAY, anonymous, eventually, post
from tests.integration.tweets.tokens import random_user_id

FOLLOWERS = 20_000
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def consumer() -> AsyncIterator[str]:
    async with temporary_consumer(
        killable_consumer(f"test-fanout-{uuid.uuid4().hex[:10]}")
    ) as name:
        yield name


@pytest.fixture
async def parts_consumer() -> AsyncIterator[str]:
    async with temporary_consumer(
        killable_parts_consumer(f"test-fanout-parts-{uuid.uuid4().hex[:10]}")
    ) as name:
        yield name


def _start(*consumers: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT}/gen"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.timelines.fanout_worker", *consumers],
        cwd=ROOT,
        env=env,
    )


async def _have(redis: Redis, users: list[int], tweet_id: int) -> list[int]:
    """How many times each user's timeline holds the tweet (0 or 1: ids are set members)."""
    async with redis.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.zrangebylex(home_key(user), f"[{member(tweet_id)}", f"[{member(tweet_id)}")
        results = await pipe.execute()
    return [len(found) for found in results]


async def test_a_killed_fanout_worker_leaves_every_active_follower_the_tweet_once(
    redis: Redis, consumer: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    await _killed_mid_way(redis, processes, [consumer], workers=1)


async def test_a_shared_fanout_with_a_killed_worker_leaves_every_active_follower_the_tweet_once(
    redis: Redis, consumer: str, parts_consumer: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    await _killed_mid_way(redis, processes, [consumer, parts_consumer], workers=2)


async def _killed_mid_way(
    redis: Redis, processes: list[subprocess.Popen[bytes]], consumers: list[str], workers: int
) -> None:
    """``workers`` worker processes on ``consumers`` fan a tweet out to 20,000 followers (half
    of them active); the first is killed once some but not all have it, and one started again."""
    author = anonymous()
    followers = [random_user_id() for _ in range(FOLLOWERS)]
    active, away = followers[::2], followers[1::2]
    driver = neo4j_driver()
    now = int(time.time() * 1000) - 1000
    try:
        await driver.execute_query(
            "MERGE (b:User {id: $author}) SET b.follower_count = size($rows) "
            "WITH b UNWIND $rows AS row "
            "CREATE (a:User {id: row[0], following_count: 1}) "
            "CREATE (a)-[:FOLLOWS {create_time: $now, followee: $author, rank: row[1]}]->(b)",
            {
                "author": author.id,
                "rows": [[follower, follow_rank(now, follower)] for follower in followers],
                "now": now,
            },
        )
        async with redis.pipeline(transaction=False) as pipe:
            for user in active:
                pipe.zadd(home_key(user), {SENTINEL: 0})
                pipe.expire(home_key(user), 3600)
            await pipe.execute()

        processes.extend(_start(*consumers) for _ in range(workers))
        async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:
            tweet_id = await post(http, author, "to twenty thousand")
        await eventually(  # kill once some, not half, of the active followers have it
            lambda: _have(redis, active, tweet_id),
            lambda counts: 0 < sum(counts) < len(counts) // 2,
            30,
        )
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait()
        partial = sum(await _have(redis, active, tweet_id))
        assert 0 < partial < len(active)  # killed mid-way

        processes.append(_start(*consumers))  # redelivered after the ack wait (3 s here)
        counts, _ = await eventually(
            lambda: _have(redis, active, tweet_id), lambda counts: 0 not in counts, 60
        )
        assert counts == [1] * len(active)  # exactly once (timeline entries are set members)
        assert await redis.exists(*(home_key(user) for user in away[:1000])) == 0
    finally:
        await driver.execute_query(
            "UNWIND $ids AS id MATCH (u:User {id: id}) DETACH DELETE u",
            {"ids": [author.id, *followers]},
        )
        await driver.close()
        await redis.delete(*(home_key(user) for user in [author.id, *active]))
