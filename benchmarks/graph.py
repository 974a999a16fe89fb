"""ListFollowers, BatchGetFollowCounts and ListSuggestedUsers (ghz), and streaming every
follower of the most followed account (a grpc.aio client), on the real graph service over the
generated power-law graph (``benchmarks/follow_graph.py``), each next to the no-op baseline
measured in the same run.

FollowUser makes a new follow on every request (``common.advancing``: dataset accounts
following dataset accounts they do not follow), and UnfollowUser then undoes exactly those, so
the dataset's graph ends as it began."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import grpc
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc

from benchmarks import celebrity, common, follow_graph, tokens
from benchmarks.common import Metadata, Options, Scenario
from benchmarks.dataset import Dataset
from benchmarks.report import Report
from services.platform.settings import GRPC_PORTS

GRAPH = f"127.0.0.1:{GRPC_PORTS['graph']}"
SERVICE = "chirp.graph.v1.GraphService"
STREAM_RUNS = 3
STREAM_BATCH = 1000
#: Dataset accounts that follow in the follow benchmark, and the accounts they follow: this
#: many x FOLLOWEES new follows before a pair would repeat.
FOLLOWERS = 200
FOLLOWEES = 50
#: Users in the BatchGetFollowCounts scenario's batch.
COUNTED = 100


@dataclass(frozen=True)
class StreamRow:
    target: str
    followers: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def followers_per_second(self) -> float:
        return self.followers / self.median if self.median else float("nan")


@dataclass(frozen=True)
class Prepared:
    graph: follow_graph.Loaded
    #: Follower count of the bench graph's most followed account.
    top_followers: int
    celebrity: celebrity.Celebrity
    #: The page token of the celebrity's followers page ``celebrity.DEEP_PAGE``.
    deep_token: str
    #: The bench graph's users whose counts a batch asks for, with its most followed.
    counted_ids: list[int]


def prepare() -> Prepared:
    """The loaded bench graph and celebrity (generated and loaded first if missing)."""
    with follow_graph.driver() as neo4j:
        graph = follow_graph.ensure_loaded(neo4j)
        star = celebrity.load(neo4j)
        records, _, _ = neo4j.execute_query(
            "MATCH (u:User {id: $id}) RETURN u.follower_count AS followers", id=graph.top_id
        )
        deep_token = star.page_token(neo4j, celebrity.DEEP_PAGE, celebrity.PAGE_SIZE)
        counted = follow_graph.spread_ids(neo4j, graph, COUNTED - 1)
    return Prepared(graph, int(records[0]["followers"]), star, deep_token, [graph.top_id, *counted])


def scenarios(prepared: Prepared, data: Dataset) -> list[Scenario]:
    graph, star = prepared.graph, prepared.celebrity
    return [
        Scenario(
            "ListFollowers dataset top x100",
            f"{SERVICE}/ListFollowers",
            {"username": data.most_followed()[1], "page_size": 100},
        ),
        Scenario(
            "ListFollowers 100k-graph top x100",
            f"{SERVICE}/ListFollowers",
            {"username": graph.top_username, "page_size": 100},
        ),
        Scenario(
            "ListFollowers 1M-follower account x100, page 1",
            f"{SERVICE}/ListFollowers",
            {"username": star.username, "page_size": 100},
        ),
        Scenario(
            f"ListFollowers 1M-follower account x100, page {celebrity.DEEP_PAGE:,}",
            f"{SERVICE}/ListFollowers",
            {"username": star.username, "page_size": 100, "page_token": prepared.deep_token},
        ),
        Scenario(
            f"BatchGetFollowCounts x{COUNTED}",
            f"{SERVICE}/BatchGetFollowCounts",
            {"user_ids": [str(user_id) for user_id in prepared.counted_ids]},
        ),
        Scenario(
            f"ListSuggestedUsers f={follow_graph.CALLER_FOLLOWS}",
            f"{SERVICE}/ListSuggestedUsers",
            {"page_size": 20},
        ),
    ]


def new_follows(data: Dataset) -> tuple[Metadata, tuple[Scenario, Scenario]]:
    """FollowUser of a new (follower, followee) pair of dataset accounts on every request, and
    its undoing: the least followed accounts are followed, by accounts that follow none of
    them (the dataset's follows are generated again from its seed to know which)."""
    size = data.size
    graph = follow_graph.generate(follow_graph.Size(size.users, size.follows, size.seed))
    existing = set(zip(graph.followers, graph.followees, strict=True))
    followees = sorted(range(size.users), key=lambda user: graph.follower_counts[user])
    followees = [user for user in followees if user != graph.caller][:FOLLOWEES]
    followers = [
        user
        for user in range(size.users)
        if user not in followees
        and user != graph.caller
        and not any((user, followee) in existing for followee in followees)
    ][:FOLLOWERS]
    names = common.advancing([data.accounts[user][1] for user in followees], len(followers))
    followee = {"username": names}
    metadata = common.round_robin([data.token(data.accounts[user]) for user in followers])
    return metadata, (
        Scenario("FollowUser (a new pair each)", f"{SERVICE}/FollowUser", followee),
        Scenario("UnfollowUser (each of those)", f"{SERVICE}/UnfollowUser", followee),
    )


async def _stream_once(address: str, user_id: int, metadata: tuple[tuple[str, str], ...]) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = graph_service_pb2_grpc.GraphServiceStub(channel)
        request = graph_service_pb2.StreamFollowersRequest(user_id=user_id, batch_size=STREAM_BATCH)
        streamed = 0
        async for batch in stub.StreamFollowers(request, metadata=metadata, timeout=600):
            streamed += len(batch.follower_ids)
        return streamed


def measure_stream(baseline: str, user_id: int, expected: int, token: str) -> list[StreamRow]:
    """Streams every follower of ``user_id`` STREAM_RUNS times from each side, alternating."""
    metadata = (("authorization", f"Bearer {token}"),)
    seconds: dict[str, list[float]] = {"baseline": [], "graph": []}
    for _ in range(STREAM_RUNS):
        for target, address in (("baseline", baseline), ("graph", GRAPH)):
            started = time.perf_counter()
            try:
                streamed = asyncio.run(_stream_once(address, user_id, metadata))
            except grpc.aio.AioRpcError as error:
                raise RuntimeError(f"{target}: {error.code().name} {error.details()}") from error
            seconds[target].append(time.perf_counter() - started)
            if streamed != expected:
                raise RuntimeError(f"{target} streamed {streamed} followers, not {expected}")
    return [StreamRow(target, expected, runs) for target, runs in seconds.items()]


def stream_table(rows: list[StreamRow]) -> str:
    lines = [
        "| target | followers | median s | best s | followers/s | ratio to baseline |",
        "|---|---|---|---|---|---|",
    ]
    baseline = next(row for row in rows if row.target == "baseline")
    for row in rows:
        ratio = row.followers_per_second / baseline.followers_per_second
        lines.append(
            f"| {row.target} | {row.followers:,} | {row.median:.3f} | {min(row.seconds):.3f} | "
            f"{row.followers_per_second:,.0f} | {ratio:.2f}x |"
        )
    return "\n".join(lines)


def run(options: Options, data: Dataset, report: Report) -> None:
    prepared = prepare()
    graph, top_followers = prepared.graph, prepared.top_followers
    token = tokens.mint(graph.caller_id, "bench_caller")
    metadata = common.bearer(token)
    with common.baseline_server(streamed_followers=top_followers) as baseline:
        sides = common.Sides(("graph", GRAPH), baseline, metadata)
        report.add(common.measure("graph", scenarios(prepared, data), sides, options.load))
        followers, follows = new_follows(data)
        following = common.Sides(("graph", GRAPH), baseline, followers)
        report.add(common.measure_undone("graph", *follows, following, options.load))
        streams = measure_stream(baseline, graph.top_id, top_followers, token)
    report.section(
        f"StreamFollowers of the 100k graph's most followed account ({top_followers:,} "
        f"followers, batches of {STREAM_BATCH}, {STREAM_RUNS} runs each)",
        stream_table(streams),
    )
