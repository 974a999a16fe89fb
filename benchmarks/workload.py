"""The social-network mix of DeathStarBench through Envoy: 60% home timeline reads
(``GET /v1/timelines/home``) by ``HOME_READERS`` dataset accounts (each follows about 20),
30% user timeline reads (``GET /v1/users/{username}/tweets``) over ``USER_PAGES`` accounts, 10%
posts (``POST /v1/tweets``) by ``POSTERS`` accounts drawn anew at every rate, all with real
tokens. The readers are the same at every rate and read once each before the first (``warm_up``),
as active users' timelines are kept warm: a first read's rebuild is not what the mix measures. At
offered rates rising by ``RATE_STEP`` until the baseline itself saturates: the same
mix through a second Envoy with the very same configuration whose service clusters point at the
no-op services (``benchmarks/noop.py``), the gateway's own ceiling on this machine.

The load tool is wrk with ``mix.lua`` over ``CONNECTIONS`` HTTP/1.1 connections: the script
sends each request with its own token and paces the run at the offered rate, open-loop up to
one outstanding request per connection (a slow answer does not delay the other connections'
requests); past that, the achieved rate falls below the offered one. Latency is wrk's: request
sent to response read. The knee of a target is the highest offered rate it serves in full
(``KNEE_SHARE`` of it achieved) with no error and a p99 within ``KNEE_P99_MS``.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from benchmarks import common, ghz
from benchmarks.common import GATEWAY, Options, Row
from benchmarks.dataset import DIRECTORY, Dataset
from benchmarks.report import Report
from devstack import envoy, probes
from devstack.paths import VENV_BIN

#: The clusters the mix reaches; the baseline gateway points them at the no-op services.
NOOP_CLUSTERS = ("tweets", "timelines", "graph", "search")
SCRIPT = Path(__file__).with_name("mix.lua")
CONNECTIONS = 32
HOME_READERS = 240
POSTERS = 100  # at 6,400/s, 64 posts/s each for 10 s: far under the per-account post limit
USER_PAGES = 100
READERS_SEED = 7
HOME_PAGE = "/v1/timelines/home?page_size=20"
#: One cycle of the mix: its requests in a fixed shuffled order (60% / 30% / 10%).
CYCLE = {"home": 600, "user": 300, "post": 100}
FIRST_RATE, QUICK_FIRST_RATE = 100, 200
RATE_STEP, QUICK_RATE_STEP = 2**0.5, 2.0
MAX_RATE = 12_800
KNEE_SHARE = 0.95
KNEE_P99_MS = 250.0


@dataclass(frozen=True)
class Point:
    """One measured rate of one target."""

    offered: int
    result: ghz.Result
    statuses: Counter[str]

    @property
    def served(self) -> bool:
        return (
            self.result.rps >= KNEE_SHARE * self.offered
            and self.result.errors == 0
            and self.result.p99_ms <= KNEE_P99_MS
        )


def requests(data: Dataset, round_: int) -> list[str]:
    """The lines of ``mix.lua``'s request file (method, path, token, body), one cycle."""
    rng = random.Random(round_)  # noqa: S311 (reproducible test data)
    readers = home_readers(data)
    # posters drawn anew in every run, so repeated runs rarely post as the same accounts
    posters = random.sample(data.accounts, POSTERS)
    pages = [user_page(account[1]) for account in data.accounts[:USER_PAGES]]
    kinds = [kind for kind, count in CYCLE.items() for _ in range(count)]
    rng.shuffle(kinds)
    tokens = {account: data.token(account) for account in {*readers, *posters}}
    hashtag = data.hashtags[1]
    lines = []
    for index, kind in enumerate(kinds):
        reader = readers[index % HOME_READERS]
        if kind == "home":
            lines.append(f"GET\t{HOME_PAGE}\t{tokens[reader]}\t")
        elif kind == "user":
            page = pages[index % USER_PAGES]
            lines.append(f"GET\t{page}\t{tokens[reader]}\t")
        else:
            poster = posters[index % POSTERS]
            text = f"mix post by {poster[1]} {' '.join(data.words[:5])} #{hashtag}"
            body = json.dumps({"text": text})
            lines.append(f"POST\t/v1/tweets\t{tokens[poster]}\t{body}")
    return lines


def user_page(username: str) -> str:
    return f"/v1/users/{username}/tweets?page_size=20"


def home_readers(data: Dataset) -> list[tuple[int, str]]:
    """The mix's home readers: the same accounts at every rate."""
    return random.Random(READERS_SEED).sample(data.accounts, HOME_READERS)  # noqa: S311


def warm_up(data: Dataset) -> None:
    """One read of every page the mix reads, so its first rate finds them as later ones do."""
    readers = home_readers(data)
    with httpx.Client(base_url=GATEWAY, timeout=30) as client:
        for reader in readers:
            headers = {"Authorization": f"Bearer {data.token(reader)}"}
            client.get(HOME_PAGE, headers=headers).raise_for_status()
        headers = {"Authorization": f"Bearer {data.token(readers[0])}"}
        for account in data.accounts[:USER_PAGES]:
            client.get(user_page(account[1]), headers=headers).raise_for_status()


def run_mix(data: Dataset, base: str, rate: int, seconds: int, round_: int) -> Point:
    """The mix at ``rate`` requests/s against the gateway at ``base`` for ``seconds``."""
    return run_wrk(base, requests(data, round_), rate, seconds)


def run_wrk(base: str, lines: list[str], rate: float, seconds: int) -> Point:
    """``lines`` (``mix.lua``'s request file) sent in turn at ``rate`` requests/s for
    ``seconds`` over ``CONNECTIONS`` connections to ``base``."""
    work = DIRECTORY / "wrk"
    work.mkdir(parents=True, exist_ok=True)
    path = work / "requests.tsv"
    path.write_text("\n".join(lines) + "\n")
    threads = 1
    output = subprocess.run(
        ["wrk", f"--threads={threads}", f"--connections={CONNECTIONS}",
         f"--duration={seconds}s", "--timeout=10s", f"--script={SCRIPT}", base,
         "--", str(path), str(rate), str(threads)],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    line = next(line for line in output.splitlines() if line.startswith("chirp-mix "))
    measured = json.loads(line.removeprefix("chirp-mix "))
    statuses = Counter({status: int(n) for status, n in measured["statuses"].items()})
    if measured["socket_errors"]:
        statuses["socket error"] = measured["socket_errors"]
    errors = sum(n for status, n in statuses.items() if not status.startswith(("2", "3")))
    result = ghz.Result(
        requests=measured["requests"],
        rps=measured["requests"] / (measured["duration_us"] / 1e6),
        p50_ms=measured["p50_us"] / 1000,
        p95_ms=measured["p95_us"] / 1000,
        p99_ms=measured["p99_us"] / 1000,
        errors=errors,
    )
    return Point(round(rate), result, statuses)


def rates(*, quick: bool) -> list[int]:
    """The offered rates, lowest first, up to ``MAX_RATE``."""
    rate, step = (
        (float(QUICK_FIRST_RATE), QUICK_RATE_STEP) if quick else (float(FIRST_RATE), RATE_STEP)
    )
    found = []
    while rate <= MAX_RATE:
        found.append(round(rate))
        rate *= step
    return found


def knee(points: list[Point]) -> int | None:
    """The highest offered rate served in full, if any."""
    return max((point.offered for point in points if point.served), default=None)


def baseline_config(
    gateway_port: int, admin_port: int, noop_port: int, without: Sequence[str] = ()
) -> dict[str, Any]:
    """The gateway's local configuration on other ports, the mix's clusters at the no-op, and
    without the HTTP filters named in ``without``."""
    import yaml  # noqa: PLC0415  (as devstack.envoy does)

    config = envoy.plain_http_only(envoy.localize(yaml.safe_load(envoy.SOURCE_CONFIG.read_text())))
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"]["port_value"] = gateway_port
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                manager = network_filter["typed_config"]
                manager["http_filters"] = [
                    each for each in manager["http_filters"] if each["name"] not in without
                ]
    config["admin"]["address"]["socket_address"]["port_value"] = admin_port
    for cluster in config["static_resources"]["clusters"]:
        if cluster["name"] in NOOP_CLUSTERS:
            for endpoints in cluster["load_assignment"]["endpoints"]:
                for endpoint in endpoints["lb_endpoints"]:
                    endpoint["endpoint"]["address"]["socket_address"]["port_value"] = noop_port
    return config


@contextmanager
def baseline_gateway(noop_address: str, without: Sequence[str] = ()) -> Iterator[common.Served]:
    """A second Envoy with the gateway's configuration (``without`` some HTTP filters) in front
    of the no-op services."""
    import yaml  # noqa: PLC0415

    port, admin = common.free_port(), common.free_port()
    path = DIRECTORY / "envoy-baseline.yaml"
    noop_port = int(noop_address.split(":")[1])
    path.write_text(yaml.safe_dump(baseline_config(port, admin, noop_port, without)))
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
        yield common.Served(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()
        process.wait(timeout=20)


def run(options: Options, data: Dataset, report: Report) -> None:
    rows: list[Row] = []
    lines = ["| offered rps | target | HTTP statuses |", "|---|---|---|"]
    points: dict[str, list[Point]] = {"baseline": [], "chirp": []}
    warm_up(data)
    with common.baseline_server() as noop, baseline_gateway(noop) as gateway:
        base = gateway.address
        for round_, rate in enumerate(rates(quick=options.quick)):
            background: common.CpuSpent | None = None
            for target, url in (("baseline", base), ("chirp", GATEWAY)):
                point, spent = common.cpu_during(
                    partial(run_mix, data, url, rate, options.seconds, round_)
                )
                points[target].append(point)
                cpu = (
                    common.cpu_per_request(spent, background, point.result.requests)
                    if background
                    else {}
                )
                background = background or spent
                rows.append(
                    Row("DSB mix via Envoy", "60/30/10 mix", target, point.result,
                        "Envoy -> no-op", rate, cpu)
                )  # fmt: skip
                counts = ", ".join(
                    f"{status}: {n:,}" for status, n in sorted(point.statuses.items())
                )
                lines.append(f"| {rate:,} | {target} | {counts} |")
                print(f"  {target} at {rate}/s: {point.result.rps:.0f}/s, {counts}", flush=True)
            if points["baseline"][-1].result.rps < KNEE_SHARE * rate:
                break  # the gateway's own ceiling: beyond it the ratio says nothing more
    report.add(rows)
    report.section("DSB mix: HTTP statuses per offered rate", "\n".join(lines))
    knees = {target: knee(measured) for target, measured in points.items()}
    ratio = (
        f"{knees['chirp'] / knees['baseline']:.2f}x"
        if knees["chirp"] and knees["baseline"]
        else "n/a"
    )
    report.section(
        "DSB mix: knees",
        "The knee is the highest offered rate served in full: at least "
        f"{KNEE_SHARE:.0%} of it achieved, no error, p99 within {KNEE_P99_MS:.0f} ms "
        f"({CONNECTIONS} connections, {HOME_READERS} home readers).\n\n"
        "| target | knee (offered rps) |\n|---|---|\n"
        + "".join(f"| {target} | {value or 'none'} |\n" for target, value in knees.items())
        + f"| chirp / baseline | {ratio} |",
    )
