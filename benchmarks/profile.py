"""``python -m benchmarks.profile [--quick] [NAME ...]``: py-spy profiles of the slowest paths,
taken while ghz drives each one: every service on the path is sampled at once (``py-spy record
--pid``, raw collapsed stacks), and the busiest frames of each are written to
``benchmarks/results/profiles/<path>.md`` (self time, and inclusive time of Chirp's own code),
with the share of samples in which the process was busy at all."""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks import common, dataset, follow_graph, ghz, tokens
from benchmarks.common import Metadata, Scenario
from benchmarks.dataset import Dataset
from benchmarks.report import RESULTS
from devstack.paths import DATA, VENV_BIN
from services.platform.settings import GRPC_PORTS, ServiceName

SECONDS = 15
RATE = 100  # py-spy samples per second
TOP = 12


@dataclass(frozen=True)
class ProfiledPath:
    """A path to profile: the scenario, the service it is called on, the services sampled."""

    scenario: Scenario
    service: ServiceName
    sampled: tuple[str, ...]
    metadata: Metadata


def paths(data: Dataset) -> dict[str, ProfiledPath]:
    with follow_graph.driver() as neo4j:
        graph = follow_graph.loaded(neo4j)
    top_username = graph.top_username if graph else data.most_followed()[1]
    # as graph.py measures it: the 100k graph's caller, who follows exactly 50
    caller = common.bearer(tokens.mint(graph.caller_id, "bench_caller")) if graph else None
    push = common.bearer(data.token(data.push_reader))
    pull = common.bearer(data.token(data.pull_reader))
    home = {"page_size": 20}
    method = "chirp.timelines.v1.TimelinesService/ListHomeTimeline"
    return {
        "home-push": ProfiledPath(
            Scenario("ListHomeTimeline push x20", method, home),
            "timelines",
            ("timelines", "graph", "tweets"),
            push,
        ),
        "home-pull": ProfiledPath(
            Scenario("ListHomeTimeline pull x20", method, home),
            "timelines",
            ("timelines", "graph", "tweets"),
            pull,
        ),
        "create-tweet": ProfiledPath(
            Scenario(
                "CreateTweet",
                "chirp.tweets.v1.TweetsService/CreateTweet",
                {"text": "profile {{.RequestNumber}} #bench"},
            ),
            "tweets",
            ("tweets", "users", "timelines", "search"),
            common.round_robin([data.token(a) for a in data.accounts[:200]]),
        ),
        "user-tweets": ProfiledPath(
            Scenario(
                "ListUserTweets x20",
                "chirp.tweets.v1.TweetsService/ListUserTweets",
                {"username": data.most_followed()[1], "page_size": 20},
            ),
            "tweets",
            ("tweets", "users"),
            push,
        ),
        "list-followers": ProfiledPath(
            Scenario(
                "ListFollowers dataset top x100",
                "chirp.graph.v1.GraphService/ListFollowers",
                {"username": data.most_followed()[1], "page_size": 100},
            ),
            "graph",
            ("graph", "users"),
            push,
        ),
        "list-followers-100k": ProfiledPath(
            Scenario(
                "ListFollowers 100k-graph top x100",
                "chirp.graph.v1.GraphService/ListFollowers",
                {"username": top_username, "page_size": 100},
            ),
            "graph",
            ("graph", "users"),
            push,
        ),
        "follow-counts": ProfiledPath(
            Scenario(
                "BatchGetFollowCounts x100",
                "chirp.graph.v1.GraphService/BatchGetFollowCounts",
                {"user_ids": [str(account[0]) for account in data.accounts[:100]]},
            ),
            "graph",
            ("graph",),
            push,
        ),
        "suggested-users": ProfiledPath(
            Scenario(
                "ListSuggestedUsers f=50",
                "chirp.graph.v1.GraphService/ListSuggestedUsers",
                {"page_size": 20},
            ),
            "graph",
            ("graph", "users"),
            caller or pull,
        ),
        "batch-get-tweets": ProfiledPath(
            Scenario(
                "BatchGetTweets x100",
                "chirp.tweets.v1.TweetsService/BatchGetTweets",
                {"ids": [str(i) for i in data.tweet_ids[-100:]]},
            ),
            "tweets",
            ("tweets", "users"),
            push,
        ),
    }


def summarize(raw: Path, chirp_prefix: str = "services/") -> str:
    """The busiest frames of a raw (collapsed) py-spy profile, as Markdown."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            if chirp_prefix in frame:
                inclusive[frame] += samples
    if not total:
        return "no samples (idle)\n"
    lines = ["| self % | frame |", "|---|---|"]
    lines += [f"| {n * 100 / total:.1f} | `{frame}` |" for frame, n in own.most_common(TOP)]
    lines += ["", "| inclusive % | Chirp frame |", "|---|---|"]
    lines += [f"| {n * 100 / total:.1f} | `{frame}` |" for frame, n in inclusive.most_common(TOP)]
    return "\n".join(lines) + "\n"


def _pid(service: str) -> int:
    return int((DATA / "run" / f"{service}.pid").read_text().split()[0])


def profile(name: str, path: ProfiledPath, load: ghz.Load, out: Path) -> str:
    raws = {service: out / f"{name}.{service}.txt" for service in path.sampled}
    recorders = [
        subprocess.Popen(
            [
                str(VENV_BIN / "py-spy"),
                "record",
                "--pid",
                str(_pid(service)),
                "--duration",
                str(load.seconds),
                "--rate",
                str(RATE),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for service, raw in raws.items()
    ]
    result: list[ghz.Result] = []
    address = f"127.0.0.1:{GRPC_PORTS[path.service]}"
    scenario = path.scenario

    def drive() -> None:
        result.append(
            ghz.run(address, scenario.method, scenario.data, load, metadata=path.metadata)
        )

    driver = threading.Thread(target=drive)
    driver.start()
    for recorder in recorders:
        recorder.wait()
    driver.join()
    r = result[0]
    sections = [
        f"# {scenario.name}: py-spy while ghz drives it",
        "",
        (
            f"ghz: concurrency {load.concurrency}, {load.seconds}s: {r.rps:,.0f} rps, p50 "
            f"{r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, {r.errors} errors. Busy % = samples "
            f"in which the process was running Python (py-spy skips idle threads) / {RATE}/s "
            f"x {load.seconds}s."
        ),
        "",
    ]
    for service, raw in raws.items():
        samples = sum(int(line.rpartition(" ")[2]) for line in raw.read_text().splitlines())
        busy = samples * 100 / (RATE * load.seconds)
        sections += [f"## {service} (busy {busy:.0f}%)", "", summarize(raw)]
        raw.unlink()
    return "\n".join(sections)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="the small dataset")
    args = parser.parse_args(argv)
    data = dataset.prepare(quick=args.quick)
    out = RESULTS / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    chosen = paths(data)
    for name in args.names or list(chosen):
        text = profile(name, chosen[name], ghz.Load(8, SECONDS), out)
        (out / f"{name}.md").write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
