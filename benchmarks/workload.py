"""The social-network mix of DeathStarBench through Envoy: 60% home timeline reads
(``GET /v1/timelines/home``), 30% user timeline reads (``GET /v1/users/{username}/tweets``),
10% posts (``POST /v1/tweets``), with real tokens of dataset accounts, at several constant
offered rates, next to the same mix through a second Envoy with the very same configuration
whose service clusters point at the no-op services (``benchmarks/noop.py``): the gateway's own
ceiling on this machine.

The load tool is h2load (``nghttp2-client``; HTTP/2 over cleartext, as a mobile client behind a
load balancer would be): one h2load process per request class and caller, each paced with
``--rps`` (per client connection) for the whole measurement. That is open-loop up to
``STREAMS`` outstanding requests per connection: a slow answer does not delay the next
request, so queueing shows up as latency until the knee, beyond which the achieved rate falls
below the offered one. h2load cannot vary the token per request, so the home reads come from
``HOME_READERS`` processes (accounts drawn from the dataset), the posts from ``POSTERS``
processes whose accounts are drawn anew at every rate (no account meets a per-account limit),
and the user timeline reads cycle over ``USER_PAGES`` accounts' pages. Latencies are h2load's
per-request log (``--log-file``): request start to end of response.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import common, ghz
from benchmarks.common import Options, Row
from benchmarks.dataset import DIRECTORY, Dataset
from benchmarks.report import Report
from devstack import envoy, probes
from devstack.paths import VENV_BIN

GATEWAY = "http://127.0.0.1:8080"
#: The clusters the mix reaches; the baseline gateway points them at the no-op services.
NOOP_CLUSTERS = ("tweets", "timelines", "graph", "search")
STREAMS = 32
HOME_READERS = 4
POSTERS = 10  # at 800/s, 8 posts/s each: far under the per-account post limit per run
USER_PAGES = 100
MIX = {"home": 0.6, "user": 0.3, "post": 0.1}
RATES = [25, 50, 100, 200, 400, 800]
QUICK_RATES = [50, 200, 800]


@dataclass(frozen=True)
class Stream:
    """One h2load process: its share of the offered rate, its URIs, its caller."""

    kind: str
    share: float
    uris: list[str]
    token: str
    body: dict[str, str] | None = None


def streams(data: Dataset, base: str, round_: int) -> list[Stream]:
    rng = random.Random(round_)  # noqa: S311 (reproducible test data)
    readers = rng.sample(data.accounts, HOME_READERS)
    # posters drawn anew in every run, so repeated runs rarely post as the same accounts
    posters = random.sample(data.accounts, POSTERS)
    pages = [f"{base}/v1/users/{a[1]}/tweets?page_size=20" for a in data.accounts[:USER_PAGES]]
    rng.shuffle(pages)
    home = f"{base}/v1/timelines/home?page_size=20"
    return [
        *(Stream("home", MIX["home"] / HOME_READERS, [home], data.token(r)) for r in readers),
        Stream("user", MIX["user"], pages, data.token(readers[0])),
        *(
            Stream(
                "post",
                MIX["post"] / POSTERS,
                [f"{base}/v1/tweets"],
                data.token(poster),
                {"text": f"mix post by {poster[1]} {' '.join(data.words[:5])} #{data.hashtags[1]}"},
            )
            for poster in posters
        ),
    ]


def _h2load(
    stream: Stream, rate: float, seconds: int, work: Path, index: int
) -> subprocess.Popen[bytes]:
    clients = max(1, math.ceil(rate / 100))
    uris = work / f"uris-{index}.txt"
    uris.write_text("\n".join(stream.uris) + "\n")
    argv = [
        "h2load",
        f"--duration={seconds}",
        f"--clients={clients}",
        f"--max-concurrent-streams={STREAMS}",
        f"--rps={rate / clients:.3f}",
        f"--header=authorization: Bearer {stream.token}",
        f"--log-file={work / f'log-{index}.tsv'}",
        f"--input-file={uris}",
    ]
    if stream.body is not None:
        body = work / f"body-{index}.json"
        body.write_text(json.dumps(stream.body))
        argv += [f"--data={body}", "--header=content-type: application/json"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def run_mix(
    data: Dataset, base: str, rate: int, seconds: int, round_: int
) -> tuple[ghz.Result, Counter[str]]:
    """The mix at ``rate`` requests/s against the gateway at ``base`` for ``seconds``: the
    result and the count of each HTTP status."""
    work = DIRECTORY / "h2load"
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("log-*.tsv"):
        old.unlink()
    processes = [
        _h2load(stream, rate * stream.share, seconds, work, index)
        for index, stream in enumerate(streams(data, base, round_))
    ]
    for process in processes:
        process.wait(timeout=seconds + 120)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    for log in work.glob("log-*.tsv"):
        for line in log.read_text().splitlines():
            _, status, micros = line.split("\t")[:3]
            latencies.append(int(micros) / 1000)
            statuses[status] += 1
    errors = sum(count for status, count in statuses.items() if not status.startswith("2"))
    result = ghz.Result(
        requests=len(latencies),
        rps=len(latencies) / seconds,
        p50_ms=_percentile(latencies, 50),
        p95_ms=_percentile(latencies, 95),
        p99_ms=_percentile(latencies, 99),
        errors=errors,
    )
    return result, statuses


def baseline_config(gateway_port: int, admin_port: int, noop_port: int) -> dict[str, Any]:
    """The gateway's local configuration on other ports, the mix's clusters at the no-op."""
    import yaml  # noqa: PLC0415  (as devstack.envoy does)

    config: dict[str, Any] = envoy.localize(yaml.safe_load(envoy.SOURCE_CONFIG.read_text()))
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"]["port_value"] = gateway_port
    config["admin"]["address"]["socket_address"]["port_value"] = admin_port
    for cluster in config["static_resources"]["clusters"]:
        if cluster["name"] in NOOP_CLUSTERS:
            for endpoints in cluster["load_assignment"]["endpoints"]:
                for endpoint in endpoints["lb_endpoints"]:
                    endpoint["endpoint"]["address"]["socket_address"]["port_value"] = noop_port
    return config


@contextmanager
def baseline_gateway(noop_address: str) -> Iterator[str]:
    """A second Envoy with the gateway's configuration in front of the no-op services."""
    import yaml  # noqa: PLC0415

    port, admin = common.free_port(), common.free_port()
    path = DIRECTORY / "envoy-baseline.yaml"
    path.write_text(yaml.safe_dump(baseline_config(port, admin, int(noop_address.split(":")[1]))))
    process = subprocess.Popen(
        [str(VENV_BIN / "envoy"), "--config-path", str(path), "--disable-hot-restart",
         "--log-level", "error"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while probes.envoy(admin) is not None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the baseline Envoy did not start")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def run(options: Options, data: Dataset, report: Report) -> None:
    rates = QUICK_RATES if options.quick else RATES
    rows: list[Row] = []
    lines = ["| offered rps | target | HTTP statuses |", "|---|---|---|"]
    with common.baseline_server() as noop, baseline_gateway(noop) as base:
        for round_, rate in enumerate(rates):
            background: common.CpuSpent | None = None
            for target, url in (("baseline", base), ("chirp", GATEWAY)):
                (result, statuses), spent = common.cpu_during(
                    partial(run_mix, data, url, rate, options.seconds, round_)
                )
                cpu = (
                    common.cpu_per_request(spent, background, result.requests) if background else {}
                )
                background = background or spent
                rows.append(
                    Row(
                        "DSB mix via Envoy",
                        "60/30/10 mix",
                        target,
                        result,
                        "Envoy -> no-op",
                        rate,
                        cpu,
                    )
                )
                counts = ", ".join(f"{status}: {n:,}" for status, n in sorted(statuses.items()))
                lines.append(f"| {rate:,} | {target} | {counts} |")
                print(f"  {target} at {rate}/s: {result.rps:.0f}/s, {counts}", flush=True)
    report.add(rows)
    report.section("DSB mix: HTTP statuses per offered rate", "\n".join(lines))
