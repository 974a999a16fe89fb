"""CreateTweet, GetTweet and BatchGetTweets on the real tweets service, each next to the no-op
baseline measured in the same run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks import ghz
from devstack.paths import PYTHON, ROOT
from services.bootstrap.healthcheck import not_serving_reason
from services.bootstrap.settings import GRPC_PORTS

GATEWAY = "http://127.0.0.1:8080"
TWEETS = f"127.0.0.1:{GRPC_PORTS['tweets']}"
BASELINE_PORT = 50199


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Row:
    scenario: str
    target: str
    result: ghz.Result


@contextmanager
def baseline_server() -> Iterator[str]:
    """The no-op TweetsService on its own port, for as long as the context lasts."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}", "CHIRP_METRICS_PORT": "9199"}
    process = subprocess.Popen([str(PYTHON), "-m", "benchmarks.noop", str(BASELINE_PORT)], env=env)
    address = f"127.0.0.1:{BASELINE_PORT}"
    try:
        deadline = time.monotonic() + 20
        while not_serving_reason(address, timeout_seconds=1) is not None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the baseline server did not start")
            time.sleep(0.2)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=20)


def _session(client: httpx.Client) -> tuple[str, str]:
    """Registers a fresh account and logs in; returns (username, access token)."""
    username = f"bench_{uuid.uuid4().hex[:9]}"
    password = uuid.uuid4().hex
    client.post("/v1/users", json={"username": username, "password": password}).raise_for_status()
    login = client.post("/v1/sessions", json={"username": username, "password": password})
    login.raise_for_status()
    return username, str(login.json()["accessToken"])


def _tweet_ids(client: httpx.Client, token: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    ids = []
    for index in range(count):
        posted = client.post(
            "/v1/tweets", json={"text": f"benchmark seed {index} #chirp"}, headers=headers
        )
        posted.raise_for_status()
        ids.append(str(posted.json()["id"]))
    return ids


def scenarios(ids: list[str]) -> list[Scenario]:
    return [
        Scenario(
            "CreateTweet",
            "chirp.tweets.v1.TweetsService/CreateTweet",
            {"text": "load {{.RequestNumber}} at {{.TimestampUnixNano}} #bench"},
        ),
        Scenario("GetTweet", "chirp.tweets.v1.TweetsService/GetTweet", {"id": ids[0]}),
        Scenario(
            "BatchGetTweets x100",
            "chirp.tweets.v1.TweetsService/BatchGetTweets",
            {"ids": ids[:100]},
        ),
    ]


def measure(load: ghz.Load) -> list[Row]:
    with httpx.Client(base_url=GATEWAY, timeout=30) as client:
        _, token = _session(client)
        ids = _tweet_ids(client, token, 100)
    metadata = {"authorization": f"Bearer {token}"}
    rows = []
    with baseline_server() as baseline:
        for scenario in scenarios(ids):
            # Baseline and service alternate per scenario, so drift on the shared machine
            # touches both sides alike.
            for target, address in (("baseline", baseline), ("tweets", TWEETS)):
                result = ghz.run(address, scenario.method, scenario.data, load, metadata=metadata)
                rows.append(Row(scenario.name, target, result))
    return rows


def table(rows: list[Row]) -> str:
    header = (
        f"{'scenario':<22}{'target':<10}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'rps vs baseline':>17}"
    )
    lines = [header]
    baseline_rps = {row.scenario: row.result.rps for row in rows if row.target == "baseline"}
    for row in rows:
        r = row.result
        ratio = (
            r.rps / baseline_rps[row.scenario] if baseline_rps.get(row.scenario) else float("nan")
        )
        lines.append(
            f"{row.scenario:<22}{row.target:<10}{r.rps:>9.0f}{r.p50_ms:>9.2f}{r.p95_ms:>9.2f}"
            f"{r.p99_ms:>9.2f}{r.errors:>8}{ratio:>16.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    load = ghz.Load(
        concurrency=int(argv[0]) if argv else 8, seconds=int(argv[1]) if len(argv) > 1 else 10
    )
    rows = measure(load)
    print(f"tweets service vs no-op baseline, concurrency {load.concurrency}, {load.seconds}s each")
    print(table(rows))
    return 1 if any(row.result.errors for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
