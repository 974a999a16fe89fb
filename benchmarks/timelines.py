"""Home timelines over the generated follow graph (``benchmarks/follow_graph.py``):

1. ListHomeTimeline (page of 20, hydrated) with ghz, for the graph's *caller* (a generated user
   who follows exactly 50 accounts, most of them celebrities under the local stack's threshold of
   5, so the merge on read runs), next to the no-op TimelinesService measured in the same run.
   Each followed account gets one tweet first (CreateTweet with a token minted for it and a fixed
   idempotency key, so later runs within 24 h reuse it) and the caller's timeline is read once.
2. Fanout lag for authors of the graph with about 100, 1,000, 10,000 and 50,000 followers: all
   their followers made active (a timeline key with the sentinel, as the service writes it), a
   fanout worker in its own process (``benchmarks/fanout_worker.py``) on a temporary consumer
   with the celebrity threshold off, a real tweet posted for the author (token minted for it);
   lag = the tweet's create_time to the moment the worker has the id in the last follower's
   timeline (checked in Redis afterwards); deliveries/s = timelines written / lag.

Everything the fanout part creates is removed at the end: the consumer, the worker process, the
timeline keys it created (not those that existed), the tweets it posted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import uuid
from dataclasses import dataclass
from typing import LiteralString

import grpc
import nats
from chirp.timelines.v1 import timelines_service_pb2, timelines_service_pb2_grpc
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2, tweets_service_pb2_grpc
from redis.asyncio import Redis

from benchmarks import common, fanout_worker, follow_graph, ghz, graph, tokens
from benchmarks.common import Scenario
from devstack.paths import PYTHON, ROOT
from services.bootstrap.events import STREAM
from services.bootstrap.settings import GRPC_PORTS, Settings
from services.timelines.store import SENTINEL, home_key, member

TIMELINES = f"127.0.0.1:{GRPC_PORTS['timelines']}"
TWEETS = f"127.0.0.1:{GRPC_PORTS['tweets']}"
SERVICE = "chirp.timelines.v1.TimelinesService"
PAGE_SIZE = 20
LOCAL_THRESHOLD = 5  # devstack/components.py: more followers than this is a celebrity
FANOUT_TARGETS = (100, 1_000, 10_000, 50_000)
FANOUT_RUNS = 3
FANOUT_TIMEOUT_SECONDS = 120.0
KEY_TTL_SECONDS = 3600  # the keys made here expire by themselves if a run is interrupted
KEY_BATCH = 5000

# Creates the key only if it does not exist (the sentinel and a TTL, as a rebuild leaves an
# empty timeline): 1 if created, so that only those are deleted afterwards.
_ACTIVATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
_FOLLOWEES: LiteralString = """
MATCH (:User {id: $id})-[:FOLLOWS]->(b:User)
RETURN b.id AS id, coalesce(b.follower_count, 0) AS followers
"""
_NEAREST: LiteralString = """
MATCH (u:BenchUser)
RETURN u.id AS id, u.follower_count AS followers
ORDER BY abs(u.follower_count - $target), u.id
LIMIT 1
"""
_FOLLOWERS: LiteralString = "MATCH (f:User)-[:FOLLOWS]->(:User {id: $id}) RETURN f.id AS id"


@dataclass(frozen=True)
class Author:
    id: int
    followers: list[int]


@dataclass(frozen=True)
class FanoutRow:
    target: int
    author: int
    followers: int
    delivered: int
    lags: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.lags)

    @property
    def deliveries_per_second(self) -> float:
        return self.delivered / self.median if self.median else float("nan")


def _auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


# --- ListHomeTimeline ---------------------------------------------------------------------


async def _seed_home(caller: int, followees: list[int]) -> int:
    """One tweet by each followee (idempotent within 24 h), then one read of the caller's home
    timeline (rebuilding or refreshing it); returns how many tweets that page had."""
    async with grpc.aio.insecure_channel(TWEETS) as channel:
        stub = tweets_service_pb2_grpc.TweetsServiceStub(channel)

        async def post(author: int) -> None:
            request = tweets_service_pb2.CreateTweetRequest(
                text=f"home timeline benchmark by {author} #bench",
                idempotency_key=f"bench-home-{author}",
            )
            await stub.CreateTweet(request, metadata=_auth(_token(author)), timeout=30)

        await asyncio.gather(*(post(author) for author in followees))
    await asyncio.sleep(1)  # let the live fanout of the non-celebrities' tweets land
    async with grpc.aio.insecure_channel(TIMELINES) as channel:
        timelines = timelines_service_pb2_grpc.TimelinesServiceStub(channel)
        page = await timelines.ListHomeTimeline(
            timelines_service_pb2.ListHomeTimelineRequest(page_size=PAGE_SIZE),
            metadata=_auth(_token(caller)),
            timeout=60,
        )
    return len(page.tweets)


def _token(user_id: int) -> str:
    return tokens.mint(user_id, f"bench_{user_id}")


def measure_home(loaded: follow_graph.Loaded, load: ghz.Load) -> tuple[list[common.Row], str]:
    with follow_graph.driver() as neo4j:
        records, _, _ = neo4j.execute_query(_FOLLOWEES, id=loaded.caller_id)
    followees = [int(record["id"]) for record in records]
    celebrities = sum(1 for record in records if record["followers"] > LOCAL_THRESHOLD)
    shown = asyncio.run(_seed_home(loaded.caller_id, followees))
    if shown < PAGE_SIZE:
        raise RuntimeError(f"the warm-up read showed {shown} tweets, not {PAGE_SIZE}")
    scenario = Scenario(
        f"ListHomeTimeline x{PAGE_SIZE}", f"{SERVICE}/ListHomeTimeline", {"page_size": PAGE_SIZE}
    )
    metadata = {"authorization": f"Bearer {_token(loaded.caller_id)}"}
    with common.baseline_server() as baseline:
        rows = common.measure([scenario], ("timelines", TIMELINES), baseline, load, metadata)
    note = (
        f"caller follows {len(followees)} accounts, {celebrities} of them celebrities "
        f"(> {LOCAL_THRESHOLD} followers: merged on read), one tweet each"
    )
    return rows, note


# --- fanout lag ---------------------------------------------------------------------------


def pick_authors() -> dict[int, Author]:
    """For each target, the generated graph's account whose follower count is nearest."""
    authors = {}
    with follow_graph.driver() as neo4j:
        for target in FANOUT_TARGETS:
            records, _, _ = neo4j.execute_query(_NEAREST, target=target)
            author_id = int(records[0]["id"])
            followers, _, _ = neo4j.execute_query(_FOLLOWERS, id=author_id)
            authors[target] = Author(author_id, [int(record["id"]) for record in followers])
    return authors


async def _activate(redis: Redis, users: list[int]) -> list[int]:
    """Creates a timeline key for each user who has none; returns those created."""
    script = redis.register_script(_ACTIVATE)
    created: list[int] = []
    for start in range(0, len(users), KEY_BATCH):
        batch = users[start : start + KEY_BATCH]
        async with redis.pipeline(transaction=False) as pipe:
            for user in batch:
                await script(keys=[home_key(user)], args=[SENTINEL, KEY_TTL_SECONDS], client=pipe)
            results = await pipe.execute()
        created.extend(user for user, result in zip(batch, results, strict=True) if result == 1)
    return created


async def _delete_keys(redis: Redis, users: list[int]) -> None:
    for start in range(0, len(users), KEY_BATCH):
        await redis.delete(*(home_key(user) for user in users[start : start + KEY_BATCH]))


async def _holding(redis: Redis, users: list[int], tweet_id: int) -> int:
    """How many of ``users``' timelines hold the tweet."""
    held = 0
    for start in range(0, len(users), KEY_BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for user in users[start : start + KEY_BATCH]:
                pipe.zscore(home_key(user), member(tweet_id))
            held += sum(1 for score in await pipe.execute() if score is not None)
    return held


async def _next_fanout(worker: asyncio.subprocess.Process, tweet_id: int) -> dict[str, float]:
    assert worker.stdout is not None
    while True:
        line = await asyncio.wait_for(worker.stdout.readline(), FANOUT_TIMEOUT_SECONDS)
        if not line:
            raise RuntimeError("the fanout worker exited")
        report = json.loads(line)
        if report.get("tweet_id") == tweet_id:
            return {key: float(value) for key, value in report.items()}


async def _fanout_once(
    tweets: tweets_service_pb2_grpc.TweetsServiceAsyncStub,
    worker: asyncio.subprocess.Process,
    redis: Redis,
    author: Author,
    posted: list[tweet_pb2.Tweet],
) -> tuple[float, int]:
    request = tweets_service_pb2.CreateTweetRequest(text="fanout lag benchmark #bench")
    tweet = await tweets.CreateTweet(request, metadata=_auth(_token(author.id)), timeout=30)
    posted.append(tweet)
    report = await _next_fanout(worker, tweet.id)
    lag = report["done"] - tweet.create_time.ToNanoseconds() / 1e9
    held = await _holding(redis, author.followers, tweet.id)
    if held != len(author.followers):
        raise RuntimeError(f"{held} of {len(author.followers)} followers have tweet {tweet.id}")
    return lag, int(report["delivered"])


async def _measure_fanout(authors: dict[int, Author]) -> list[FanoutRow]:
    settings = Settings(service="timelines")
    redis = Redis.from_url(settings.redis_url)
    connection = await nats.connect(settings.nats_url)
    jetstream = connection.jetstream()
    consumer = f"bench-fanout-{uuid.uuid4().hex[:10]}"
    everyone = list(dict.fromkeys(user for a in authors.values() for user in a.followers))
    created: list[int] = []
    posted: list[tweet_pb2.Tweet] = []
    worker: asyncio.subprocess.Process | None = None
    channel = grpc.aio.insecure_channel(TWEETS)
    tweets = tweets_service_pb2_grpc.TweetsServiceStub(channel)
    try:
        created = await _activate(redis, everyone)
        await jetstream.add_consumer(STREAM.name or "", fanout_worker.bench_consumer(consumer))
        worker = await asyncio.create_subprocess_exec(
            str(PYTHON),
            "-m",
            "benchmarks.fanout_worker",
            consumer,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}"},
            stdout=asyncio.subprocess.PIPE,
        )
        rows = []
        for target, author in authors.items():
            runs = [
                await _fanout_once(tweets, worker, redis, author, posted)
                for _ in range(FANOUT_RUNS)
            ]
            rows.append(
                FanoutRow(
                    target,
                    author.id,
                    len(author.followers),
                    max(delivered for _, delivered in runs),
                    [lag for lag, _ in runs],
                )
            )
        return rows
    finally:
        if worker is not None and worker.returncode is None:
            worker.terminate()
            await worker.wait()
        with contextlib.suppress(Exception):
            await jetstream.delete_consumer(STREAM.name or "", consumer)
        await connection.close()
        await _delete_keys(redis, created)
        for tweet in posted:
            with contextlib.suppress(grpc.aio.AioRpcError):
                await tweets.DeleteTweet(
                    tweets_service_pb2.DeleteTweetRequest(id=tweet.id),
                    metadata=_auth(_token(tweet.author.id)),
                    timeout=30,
                )
        await channel.close()
        await redis.aclose()


def fanout_table(rows: list[FanoutRow]) -> str:
    header = (
        f"{'target':>8}{'followers':>11}{'delivered':>11}{'median s':>10}{'best s':>9}"
        f"{'worst s':>9}{'deliveries/s':>14}"
    )
    lines = [
        f"{row.target:>8,}{row.followers:>11,}{row.delivered:>11,}{row.median:>10.3f}"
        f"{min(row.lags):>9.3f}{max(row.lags):>9.3f}{row.deliveries_per_second:>14,.0f}"
        for row in rows
    ]
    return "\n".join([header, *lines])


def main(argv: list[str]) -> int:
    load = common.load_from(argv)
    loaded, _ = graph.prepare()
    rows, note = measure_home(loaded, load)
    authors = pick_authors()
    fanouts = asyncio.run(_measure_fanout(authors))
    print(
        f"timelines service vs no-op baseline over {loaded.users:,} users and "
        f"{loaded.follows:,} follows, concurrency {load.concurrency}, {load.seconds}s each; "
        f"{note}"
    )
    print(common.table(rows))
    print(
        f"\nfanout lag (tweet create_time to the last follower's timeline), one worker process "
        f"on its own consumer, threshold off, every follower active, {FANOUT_RUNS} runs each"
    )
    print(fanout_table(fanouts))
    return 1 if any(row.result.errors for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
