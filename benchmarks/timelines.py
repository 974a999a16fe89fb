"""Home timelines:

1. ListHomeTimeline (page of 20, hydrated) with ghz over the dataset (``benchmarks/dataset.py``)
   for its two readers, next to the no-op TimelinesService measured in the same run: the *push
   reader* follows only accounts under the local celebrity threshold of 5 (their tweets are
   fanned out on write: the read is Redis plus hydration), the *pull reader* follows 50
   Zipf-drawn accounts, nearly all celebrities locally (merged on read: the celebrity path's
   read cost). Each reader's timeline is read once first. Then the push reader's read at
   constant offered rates (the knee), and ``redis-benchmark`` for the Redis commands a read
   issues (``redis_baseline``).
2. Fanout lag for authors of the 100k generated graph (``benchmarks/follow_graph.py``) with
   about 100, 1,000, 10,000 and 100,000 followers: all their followers made active (a timeline
   key with the sentinel, as the service writes it), a fanout worker in its own process
   (``benchmarks/fanout_worker.py``) on a temporary consumer with the celebrity threshold off,
   a real tweet posted for the author (token minted for it); lag = the tweet's create_time to
   the moment the worker has the id in the last follower's timeline (checked in Redis
   afterwards); deliveries/s = timelines written / lag. Then the largest again, shared in
   parts by two worker processes (``SHARING_WORKERS``), as the service shares a huge fanout.

Everything the fanout part creates is removed at the end: the consumer, the worker process, the
timeline keys it created (not those that existed), the tweets it posted."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import shutil
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import LiteralString

import grpc
from chirp.timelines.v1 import timelines_service_pb2, timelines_service_pb2_grpc
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2, tweets_service_pb2_grpc
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from benchmarks import common, fanout_worker, follow_graph, ghz, tokens
from benchmarks.common import Options, Row, Scenario
from benchmarks.dataset import Dataset
from benchmarks.report import Report
from devstack.paths import PYTHON, ROOT
from services.platform.caches.tweet_cache import tweet_key
from services.platform.caches.user_timelines import user_timeline_key
from services.platform.consumers import connect
from services.platform.events import STREAM
from services.platform.settings import GRPC_PORTS, Settings
from services.timelines.adapters.store import SENTINEL, home_key, member
from services.timelines.service import FANOUT_PART

TIMELINES = f"127.0.0.1:{GRPC_PORTS['timelines']}"
TWEETS = f"127.0.0.1:{GRPC_PORTS['tweets']}"
SERVICE = "chirp.timelines.v1.TimelinesService"
PAGE_SIZE = 20
LOCAL_THRESHOLD = 5  # devstack/components.py: more followers than this is a celebrity
FANOUT_TARGETS = (100, 1_000, 10_000, 100_000)
QUICK_FANOUT_TARGETS = (100, 1_000)
FANOUT_RUNS = 3
#: Worker processes that share the largest fanout in a second measurement.
SHARING_WORKERS = 2
SWEEP = [25, 50, 100, 200, 400]
QUICK_SWEEP = [50, 200]
REDIS_REQUESTS = 50_000
REDIS_PREFIX = "chirp:bench:redis:"
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


async def _warm(readers: list[tuple[int, str]]) -> list[int]:
    """One read of each reader's home timeline (rebuilding it, caching the celebrities' recent
    ids); returns how many tweets each page had."""
    async with grpc.aio.insecure_channel(TIMELINES) as channel:
        timelines = timelines_service_pb2_grpc.TimelinesServiceStub(channel)
        shown = []
        for reader in readers:
            page = await timelines.ListHomeTimeline(
                timelines_service_pb2.ListHomeTimelineRequest(page_size=PAGE_SIZE),
                metadata=_auth(tokens.mint(*reader)),
                timeout=60,
            )
            shown.append(len(page.tweets))
    return shown


def _token(user_id: int) -> str:
    return tokens.mint(user_id, f"bench_{user_id}")


def measure_home(options: Options, data: Dataset) -> list[Row]:
    """Each reader's home page against the no-op, then the push reader's at offered rates."""
    readers = {"push": data.push_reader, "pull": data.pull_reader}
    shown = asyncio.run(_warm(list(readers.values())))
    if min(shown) < PAGE_SIZE:
        raise RuntimeError(f"the warm-up reads showed {shown} tweets, not {PAGE_SIZE} each")
    rows: list[Row] = []
    with common.baseline_server() as baseline:
        for path, reader in readers.items():
            scenario = Scenario(
                f"ListHomeTimeline {path} x{PAGE_SIZE}",
                f"{SERVICE}/ListHomeTimeline",
                {"page_size": PAGE_SIZE},
            )
            sides = common.Sides(
                ("timelines", TIMELINES), baseline, common.bearer(data.token(reader))
            )
            rows += common.measure("timelines", [scenario], sides, options.load)
        push = common.Sides(
            ("timelines", TIMELINES), baseline, common.bearer(data.token(data.push_reader))
        )
        rows += common.sweep(
            "home timeline (ghz)",
            Scenario("ListHomeTimeline push", f"{SERVICE}/ListHomeTimeline", {"page_size": 20}),
            push,
            options,
            QUICK_SWEEP if options.quick else SWEEP,
        )
    return rows


# --- the Redis baseline -------------------------------------------------------------------


def _redis_benchmark(command: list[str], requests: int) -> ghz.Result:
    """``redis-benchmark`` of one command, 8 clients as ghz has, without pipelining."""
    binary = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"
    completed = subprocess.run(
        [binary, "-q", "--csv", "-c", "8", "-n", str(requests), *command],
        capture_output=True,
        text=True,
        check=True,
    )
    record = next(iter(csv.DictReader(completed.stdout.splitlines())))
    return ghz.Result(
        requests=requests,
        rps=float(record["rps"]),
        p50_ms=float(record["p50_latency_ms"]),
        p95_ms=float(record["p95_latency_ms"]),
        p99_ms=float(record["p99_latency_ms"]),
        errors=0,
    )


@dataclass(frozen=True)
class RedisKeys:
    home: str
    recent: list[str]
    tweets: list[str]
    home_bytes: int  # MEMORY USAGE of the 800-entry timeline


async def _redis_keys(data: Dataset) -> RedisKeys:
    """A home timeline of 800 entries, 50 celebrities' recent-id entries and 20 cached tweets,
    shaped as the services write them (copies of real keys where they exist)."""
    redis = Redis.from_url(Settings(service="timelines").redis_url)
    home = REDIS_PREFIX + "home"
    await redis.zadd(home, {member(tweet_id): 0 for tweet_id in range(10**17, 10**17 + 800)})
    recent = [REDIS_PREFIX + f"recent:{index}" for index in range(50)]
    source = await redis.get(user_timeline_key(data.most_followed()[0])) or b"1" * 200
    await redis.mset(dict.fromkeys(recent, source))
    tweets = [REDIS_PREFIX + f"tweet:{index}" for index in range(PAGE_SIZE)]
    cached = await redis.get(tweet_key(data.tweet_ids[-1])) or b"t" * 400
    await redis.mset(dict.fromkeys(tweets, cached))
    home_bytes = int(await redis.memory_usage(home, samples=0) or 0)
    await redis.aclose()
    return RedisKeys(home, recent, tweets, home_bytes)


async def _redis_cleanup() -> None:
    redis = Redis.from_url(Settings(service="timelines").redis_url)
    keys = [key async for key in redis.scan_iter(match=REDIS_PREFIX + "*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def redis_baseline(options: Options, data: Dataset) -> tuple[list[tuple[str, ghz.Result]], int]:
    """redis-benchmark for the commands of a home read: the page (ZREVRANGEBYLEX of 20 from an
    800-entry timeline) and its activity mark (EXPIRE), the celebrities' recent ids (MGET of
    50), and the hydration of a page from the tweet cache (MGET of 20)."""
    requests = REDIS_REQUESTS // (5 if options.quick else 1)
    keys = asyncio.run(_redis_keys(data))
    home = keys.home
    page = ["LIMIT", "0", str(PAGE_SIZE)]
    commands = {
        "ZREVRANGEBYLEX 20 of 800": ["ZREVRANGEBYLEX", home, "+", f"({SENTINEL}", *page],
        "EXPIRE (activity mark)": ["EXPIRE", home, "2592000"],
        "MGET 50 celebrities' recent ids": ["MGET", *keys.recent],
        "MGET 20 cached tweets": ["MGET", *keys.tweets],
    }
    try:
        results = [(name, _redis_benchmark(cmd, requests)) for name, cmd in commands.items()]
        return results, keys.home_bytes
    finally:
        asyncio.run(_redis_cleanup())


# --- fanout lag ---------------------------------------------------------------------------


def pick_authors(targets: tuple[int, ...]) -> dict[int, Author]:
    """For each target, the generated graph's account whose follower count is nearest."""
    authors = {}
    with follow_graph.driver() as neo4j:
        for target in targets:
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


class Workers:
    """Fanout worker processes on the same temporary consumers, their report lines merged."""

    def __init__(self, processes: list[asyncio.subprocess.Process]) -> None:
        self.processes = processes
        self._lines: asyncio.Queue[dict[str, float] | None] = asyncio.Queue()
        self._readers = [asyncio.create_task(self._read(p)) for p in processes]

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            report = json.loads(line)
            if "tweet_id" in report:
                await self._lines.put({key: float(value) for key, value in report.items()})
        await self._lines.put(None)  # the worker exited

    async def fanout(self, tweet_id: int) -> tuple[float, int]:
        """When the tweet's fanout was over (its last part included), and timelines written."""
        done, delivered, parts, seen = 0.0, 0, None, 0
        while parts is None or seen < parts:
            async with asyncio.timeout(FANOUT_TIMEOUT_SECONDS):
                report = await self._lines.get()
            if report is None:
                raise RuntimeError("a fanout worker exited")
            if report["tweet_id"] != tweet_id:
                continue
            done, delivered = max(done, report["done"]), delivered + int(report["delivered"])
            if "part" in report:
                seen += 1
            else:
                parts = int(report["parts"])
        return done, delivered

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.terminate()
            await process.wait()
        for reader in self._readers:
            reader.cancel()


async def _fanout_once(
    tweets: tweets_service_pb2_grpc.TweetsServiceAsyncStub,
    workers: Workers,
    redis: Redis,
    author: Author,
    posted: list[tweet_pb2.Tweet],
) -> tuple[float, int]:
    request = tweets_service_pb2.CreateTweetRequest(text="fanout lag benchmark #bench")
    tweet = await tweets.CreateTweet(request, metadata=_auth(_token(author.id)), timeout=30)
    posted.append(tweet)
    done, delivered = await workers.fanout(tweet.id)
    lag = done - tweet.create_time.ToNanoseconds() / 1e9
    held = await _holding(redis, author.followers, tweet.id)
    if held != len(author.followers):
        raise RuntimeError(f"{held} of {len(author.followers)} followers have tweet {tweet.id}")
    return lag, delivered


async def _measure_fanout(
    authors: dict[int, Author], runs: int, workers: int = 1
) -> list[FanoutRow]:
    """Each author's fanout ``runs`` times, by one worker process (sharing nothing), or by
    ``workers`` processes sharing large fanouts in parts as the service does."""
    settings = Settings(service="timelines")
    redis = Redis.from_url(settings.redis_url)
    connection = await connect(settings.nats_url)
    jetstream = connection.jetstream()
    consumer = f"bench-fanout-{uuid.uuid4().hex[:10]}"
    consumers = [fanout_worker.bench_consumer(consumer)]
    if workers > 1:
        consumers.append(fanout_worker.bench_parts_consumer(f"{consumer}-parts"))
    everyone = list(dict.fromkeys(user for a in authors.values() for user in a.followers))
    created: list[int] = []
    posted: list[tweet_pb2.Tweet] = []
    running: Workers | None = None
    channel = grpc.aio.insecure_channel(TWEETS)
    tweets = tweets_service_pb2_grpc.TweetsServiceStub(channel)
    try:
        created = await _activate(redis, everyone)
        for config in consumers:
            await jetstream.add_consumer(STREAM.name or "", config)
        names = [config.durable_name or "" for config in consumers]
        running = Workers(
            [
                await asyncio.create_subprocess_exec(
                    str(PYTHON),
                    "-m",
                    "benchmarks.fanout_worker",
                    *names,
                    cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}"},
                    stdout=asyncio.subprocess.PIPE,
                )
                for _ in range(workers)
            ]
        )
        # one unmeasured fanout first: the workers' connections and caches warm up
        await _fanout_once(tweets, running, redis, next(iter(authors.values())), posted)
        rows = []
        for target, author in authors.items():
            measured = [
                await _fanout_once(tweets, running, redis, author, posted) for _ in range(runs)
            ]
            rows.append(
                FanoutRow(
                    target,
                    author.id,
                    len(author.followers),
                    max(delivered for _, delivered in measured),
                    [lag for lag, _ in measured],
                )
            )
        return rows
    finally:
        if running is not None:
            await running.stop()
        for config in consumers:
            with contextlib.suppress(Exception):
                await jetstream.delete_consumer(STREAM.name or "", config.durable_name or "")
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


def listpack_bytes_per_entry() -> float:
    """MEMORY USAGE per entry of an 800-entry timeline in a private Redis configured to keep
    sorted sets of up to 1,024 entries as a listpack (the shared one keeps Redis's default of
    128, so 800 entries become a skiplist): what the compact encoding would save."""
    port = common.free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    argv = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*argv, "--zset-max-listpack-entries", "1024"], stdout=subprocess.DEVNULL
    )
    try:
        client = SyncRedis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except RedisConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        key = REDIS_PREFIX + "listpack"
        client.zadd(key, {member(tweet_id): 0 for tweet_id in range(10**17, 10**17 + 800)})
        used = int(client.memory_usage(key, samples=0) or 0)
        client.close()
        return used / 800
    finally:
        process.terminate()
        process.wait(timeout=10)


def fanout_table(rows: list[FanoutRow]) -> str:
    lines = [
        "| target | followers | delivered | median lag s | best s | worst s | deliveries/s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {row.target:,} | {row.followers:,} | {row.delivered:,} | {row.median:.3f} | "
        f"{min(row.lags):.3f} | {max(row.lags):.3f} | {row.deliveries_per_second:,.0f} |"
        for row in rows
    ]
    return "\n".join(lines)


def redis_table(results: list[tuple[str, ghz.Result]]) -> str:
    lines = ["| command | rps | p50 ms | p99 ms |", "|---|---|---|---|"]
    lines += [f"| {name} | {r.rps:,.0f} | {r.p50_ms:.3f} | {r.p99_ms:.3f} |" for name, r in results]
    return "\n".join(lines)


def run(options: Options, data: Dataset, report: Report) -> None:
    rows = measure_home(options, data)
    report.add(rows)
    redis, home_bytes = redis_baseline(options, data)
    report.section(
        "Redis baseline: the commands of one home read (redis-benchmark, 8 clients)",
        redis_table(redis)
        + "\n\nA push read is one pipelined ZREVRANGEBYLEX + EXPIRE round trip, then the "
        "timelines process's own MGET of the tweet cache (its bytes sent as they are); a pull "
        "read adds the reader's kept followed celebrities, the MGET of their recent ids, and a "
        "merge. Memory: one 800-entry home "
        f"timeline (19-digit ids as members, score 0, listpack/skiplist as Redis chooses) "
        f"takes {home_bytes:,} bytes (MEMORY USAGE), {home_bytes / 800:.0f} bytes per entry.",
    )
    report.fact(
        "redis.bytes_per_entry",
        home_bytes / 800,
        "one entry of an 800-entry home "
        "timeline in Redis (MEMORY USAGE / 800; skiplist encoding, Redis's default)",
    )
    report.fact(
        "redis.bytes_per_entry_listpack",
        listpack_bytes_per_entry(),
        "the same with zset-max-listpack-entries 1024 (a private redis-server)",
    )
    by_name = dict(redis)
    report.fact(
        "redis.zrevrangebylex_rps",
        by_name["ZREVRANGEBYLEX 20 of 800"].rps,
        "redis-benchmark, one Redis process (one core), 8 clients, no pipelining",
    )
    for row in rows:
        if row.target == "timelines" and row.offered is None:
            ops = (
                "ZREVRANGEBYLEX 20 of 800"
                if "push" in row.scenario
                else "MGET 50 celebrities' recent ids"
            )
            report.add(
                [
                    Row(
                        "timelines vs Redis",
                        row.scenario,
                        "baseline",
                        by_name[ops],
                        f"redis-benchmark {ops}",
                    ),
                    Row(
                        "timelines vs Redis",
                        row.scenario,
                        "timelines",
                        row.result,
                        f"redis-benchmark {ops}",
                    ),
                ]
            )
    with follow_graph.driver() as neo4j:
        loaded = follow_graph.ensure_loaded(neo4j)
    targets = QUICK_FANOUT_TARGETS if options.quick else FANOUT_TARGETS
    runs = 1 if options.quick else FANOUT_RUNS
    fanouts = asyncio.run(_measure_fanout(pick_authors(targets), runs))
    for fanout in fanouts:
        report.fact(
            f"fanout.deliveries_per_s.{fanout.target}",
            fanout.deliveries_per_second,
            f"fanout worker process, author with {fanout.followers:,} followers",
        )
        report.fact(
            f"fanout.lag_s.{fanout.target}",
            fanout.median,
            f"median lag, author with {fanout.followers:,} followers",
        )
    report.section(
        f"Fanout lag (tweet create_time to the last follower's timeline), over the generated "
        f"graph of {loaded.users:,} users and {loaded.follows:,} follows; one worker process on "
        f"its own consumer, threshold off, every follower active, {runs} run(s) each",
        fanout_table(fanouts),
    )
    if options.quick:
        return
    largest = max(targets)
    (shared,) = asyncio.run(
        _measure_fanout(pick_authors((largest,)), runs, workers=SHARING_WORKERS)
    )
    alone = next(fanout for fanout in fanouts if fanout.target == largest)
    report.fact(
        f"fanout.lag_s.{largest}.workers_{SHARING_WORKERS}",
        shared.median,
        f"median lag, author with {shared.followers:,} followers, {SHARING_WORKERS} workers "
        f"sharing it in parts of {FANOUT_PART:,}",
    )
    report.section(
        f"Fanout shared by {SHARING_WORKERS} worker processes (parts of {FANOUT_PART:,} "
        f"followers on a second consumer, as the service shares a huge fanout), measured after "
        f"the one-worker rows above: {shared.median / alone.median:.2f}x the one worker's lag",
        fanout_table([shared]),
    )
