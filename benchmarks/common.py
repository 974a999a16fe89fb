"""What every benchmark shares: the no-op baseline server, fresh accounts, the results table."""

from __future__ import annotations

import os
import subprocess
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

GATEWAY = "http://127.0.0.1:8080"
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
def baseline_server(streamed_followers: int = 0) -> Iterator[str]:
    """The no-op services (``benchmarks/noop.py``) on their own port, for as long as the context
    lasts; their StreamFollowers streams ``streamed_followers`` ids."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}", "CHIRP_METRICS_PORT": "9199"}
    process = subprocess.Popen(
        [str(PYTHON), "-m", "benchmarks.noop", str(BASELINE_PORT), str(streamed_followers)],
        env=env,
    )
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


def session(client: httpx.Client) -> tuple[str, str]:
    """Registers a fresh account and logs in; returns (username, access token)."""
    username = f"bench_{uuid.uuid4().hex[:9]}"
    password = uuid.uuid4().hex
    client.post("/v1/users", json={"username": username, "password": password}).raise_for_status()
    login = client.post("/v1/sessions", json={"username": username, "password": password})
    login.raise_for_status()
    return username, str(login.json()["accessToken"])


def measure(
    scenarios: list[Scenario],
    service: tuple[str, str],
    baseline: str,
    load: ghz.Load,
    metadata: dict[str, str],
) -> list[Row]:
    """Each scenario against the baseline, then against ``service`` (target name, address):
    alternating per scenario, so drift on the shared machine touches both sides alike."""
    rows = []
    for scenario in scenarios:
        for target, address in (("baseline", baseline), service):
            result = ghz.run(address, scenario.method, scenario.data, load, metadata=metadata)
            rows.append(Row(scenario.name, target, result))
    return rows


def table(rows: list[Row]) -> str:
    header = (
        f"{'scenario':<28}{'target':<10}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
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
            f"{row.scenario:<28}{row.target:<10}{r.rps:>9.0f}{r.p50_ms:>9.2f}{r.p95_ms:>9.2f}"
            f"{r.p99_ms:>9.2f}{r.errors:>8}{ratio:>16.2f}x"
        )
    return "\n".join(lines)


def load_from(argv: list[str]) -> ghz.Load:
    """``[CONCURRENCY [SECONDS]]``, defaulting to ghz.Load's."""
    default = ghz.Load()
    return ghz.Load(
        concurrency=int(argv[0]) if argv else default.concurrency,
        seconds=int(argv[1]) if len(argv) > 1 else default.seconds,
    )
