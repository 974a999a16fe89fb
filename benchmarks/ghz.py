"""Runs ghz (built into ``.cache/bin`` by ``make install``) and reads its JSON report.

ghz learns each method from the server's own reflection, as a benchmarker pointing ghz at a
Chirp service would (the no-op baselines run on the same platform, so they serve it too)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from devstack.install import GO_BIN

#: ghz's errors repeat its arguments (tokens); enough of them to say what failed.
ERROR_CHARS = 500


@dataclass(frozen=True)
class Load:
    """How hard to push: ghz's concurrency and duration, and optionally a constant offered rate
    (requests/s over all workers; ghz then paces them, as an open-loop client would, until the
    ``concurrency`` workers are all busy), or a number of requests to make instead of a
    duration (to undo exactly what an earlier run did)."""

    concurrency: int = 8
    seconds: int = 10
    rps: int | None = None
    requests: int | None = None


@dataclass(frozen=True)
class Result:
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def _percentile(report: dict[str, Any], percentage: int) -> float:
    for point in report.get("latencyDistribution") or []:
        if point["percentage"] == percentage:
            return float(point["latency"]) / 1e6
    return float("nan")


def run(
    address: str,
    method: str,
    data: dict[str, Any],
    load: Load,
    *,
    metadata: dict[str, str] | None = None,
) -> Result:
    """Calls ``method`` (``package.Service/Method``) with ``data`` and ``metadata`` (ghz
    templates allowed in both)."""
    argv = [
        str(GO_BIN / "ghz"),
        "--insecure",
        f"--call={method}",
        f"--data={json.dumps(data)}",
        f"--concurrency={load.concurrency}",
        "--format=json",
    ]
    if load.requests is not None:
        argv.append(f"--total={load.requests}")
    else:
        # let in-flight calls finish at the end instead of counting them as errors
        argv += [f"--duration={load.seconds}s", "--duration-stop=wait"]
    if load.rps:
        argv.append(f"--rps={load.rps}")
    if metadata:
        argv.append(f"--metadata={json.dumps(metadata)}")
    completed = subprocess.run([*argv, address], capture_output=True, text=True, check=False)
    if not completed.stdout.strip():
        raise RuntimeError(f"ghz failed: {completed.stderr.strip()[:ERROR_CHARS]}")
    report = json.loads(completed.stdout)
    statuses: dict[str, int] = report.get("statusCodeDistribution") or {}
    return Result(
        requests=int(report["count"]),
        rps=float(report["rps"]),
        p50_ms=_percentile(report, 50),
        p95_ms=_percentile(report, 95),
        p99_ms=_percentile(report, 99),
        errors=sum(count for status, count in statuses.items() if status != "OK"),
    )
