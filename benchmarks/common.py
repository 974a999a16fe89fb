"""What every benchmark shares: the options, the no-op baseline server, fresh accounts, and the
rows every benchmark adds to the results (``benchmarks/report.py`` renders them)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx

from benchmarks import ghz
from devstack.paths import DATA, PYTHON, ROOT
from services.platform.consumers import connect
from services.platform.events import CONSUMERS, STREAM
from services.platform.healthcheck import not_serving_reason
from services.platform.settings import StoreSettings

GATEWAY = "http://127.0.0.1:8080"
BASELINE_PORT = 50199
T = TypeVar("T")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Options:
    """What ``python -m benchmarks`` was asked: quick or full, and how hard ghz pushes."""

    quick: bool = False
    concurrency: int = 8
    seconds: int = 10

    @property
    def load(self) -> ghz.Load:
        return ghz.Load(self.concurrency, self.seconds)

    def paced(self, rps: int) -> ghz.Load:
        """The same load at a constant offered rate (``rps`` requests/s)."""
        return ghz.Load(max(self.concurrency, 32), self.seconds, rps)


def _cpu_seconds(pid: int, others: frozenset[int] = frozenset()) -> float:
    """CPU seconds (user + system) of ``pid`` and its live descendants so far, but for the
    descendants in ``others`` (counted on their own: the supervisor is the parent of every
    component it restarted)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return own + sum(_cpu_seconds(child, others) for child in children if child not in others)


def stack_cpu() -> dict[str, float]:
    """CPU seconds used so far by each process of the local stack (``.data/run/*.pid``), each
    counted once."""
    pids = {}
    for pid_file in sorted((DATA / "run").glob("*.pid")):
        text = pid_file.read_text().split()
        if text:
            pids[pid_file.stem] = int(text[0])
    stack = frozenset(pids.values())
    return {name: _cpu_seconds(pid, stack) for name, pid in pids.items()}


@dataclass(frozen=True)
class CpuSpent:
    """CPU seconds each stack process spent during ``seconds`` of wall time."""

    used: dict[str, float]
    seconds: float


def cpu_during(call: Callable[[], T]) -> tuple[T, CpuSpent]:
    """``call()``'s result and the CPU the stack spent meanwhile."""
    before, started = stack_cpu(), time.monotonic()
    result = call()
    after = stack_cpu()
    used = {name: after.get(name, 0.0) - seconds for name, seconds in before.items()}
    return result, CpuSpent(used, time.monotonic() - started)


def cpu_per_request(spent: CpuSpent, background: CpuSpent, requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each stack process (those at 0.01 ms or more): what it
    spent while serving the requests, less what it spent in the same time while the baseline
    was measured just before (its background: other work on the machine, timers, consumers),
    so that the figure is what the requests cost each tier."""
    scale = spent.seconds / background.seconds if background.seconds else 0.0
    per_request = {
        name: max(0.0, used - background.used.get(name, 0.0) * scale) * 1000 / max(requests, 1)
        for name, used in spent.used.items()
    }
    ordered = sorted(per_request.items(), key=lambda item: -item[1])
    return {name: ms for name, ms in ordered if ms >= 0.01}


@dataclass(frozen=True)
class Row:
    """One measurement: ``target`` is ``"baseline"`` or what was measured (a service name);
    rows with the same group and scenario (and offered rate) pair up, and ``baseline`` names
    what the baseline side is."""

    group: str
    scenario: str
    target: str
    result: ghz.Result
    baseline: str = "no-op gRPC"
    offered: int | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Served:
    """A server process a benchmark started: where it listens, and its pid (for its CPU)."""

    address: str
    pid: int

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.pid)


@contextmanager
def server(
    argv: list[str], env: dict[str, str], address: str, timeout: float = 60
) -> Iterator[Served]:
    """A gRPC server process (``argv`` run with the virtualenv's Python, ``env`` added to this
    process's environment, its output in ``.data/bench/server.log``), for as long as the
    context lasts, once its health check answers SERVING at ``address``."""
    full_env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}", **env}
    (DATA / "bench").mkdir(parents=True, exist_ok=True)
    with (DATA / "bench" / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [str(PYTHON), *argv], env=full_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout
        while not_serving_reason(address, timeout_seconds=1) is not None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(argv)} did not start serving at {address}")
            time.sleep(0.2)
        yield Served(address, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def baseline_server(streamed_followers: int = 0) -> Iterator[str]:
    """The no-op services (``benchmarks/noop.py``) on their own port, for as long as the context
    lasts; their StreamFollowers streams ``streamed_followers`` ids."""
    with noop_server(streamed_followers) as served:
        yield served.address


@contextmanager
def noop_server(
    streamed_followers: int = 0, without: str = "", env: dict[str, str] | None = None
) -> Iterator[Served]:
    """``baseline_server``'s process, optionally ``without`` some of the server interceptors
    (their class names, comma-separated), with ``env`` added to its environment."""
    with server(
        ["-m", "benchmarks.noop", str(BASELINE_PORT), str(streamed_followers), without],
        {"CHIRP_METRICS_PORT": "9199", **(env or {})},
        f"127.0.0.1:{BASELINE_PORT}",
        timeout=20,
    ) as served:
        yield served


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def session(client: httpx.Client) -> tuple[str, str]:
    """Registers a fresh account and logs in; returns (username, access token)."""
    username = f"bench_{uuid.uuid4().hex[:9]}"
    password = uuid.uuid4().hex
    client.post("/v1/users", json={"username": username, "password": password}).raise_for_status()
    login = client.post("/v1/sessions", json={"username": username, "password": password})
    login.raise_for_status()
    return username, str(login.json()["accessToken"])


Metadata = dict[str, str]


def bearer(token: str) -> Metadata:
    return {"authorization": f"Bearer {token}"}


def round_robin(tokens: list[str]) -> Metadata:
    """Metadata whose token changes with every request, round-robin over ``tokens`` (a ghz
    template: ghz's command line takes one metadata object, not a list)."""
    return bearer(
        f"{{{{ index (splitList `,` `{','.join(tokens)}`) (mod .RequestNumber {len(tokens)}) }}}}"
    )


def advancing(values: list[str], every: int) -> str:
    """A ghz template for a field that moves on to the next of ``values`` every ``every``
    requests. With ``round_robin`` over ``every`` tokens, request ``r`` is the pair (token
    ``r mod every``, value ``r div every``): a pair no other of the first ``every x
    len(values)`` requests makes (a like or follow that is new every time)."""
    position = f"(mod (div .RequestNumber {every}) {len(values)})"
    return f"{{{{ index (splitList `,` `{','.join(values)}`) {position} }}}}"


@dataclass(frozen=True)
class Sides:
    """What a scenario is measured on: the service (target name, address) and the baseline's
    address, called with ``metadata``."""

    service: tuple[str, str]
    baseline: str
    metadata: Metadata


def measure(group: str, scenarios: list[Scenario], sides: Sides, load: ghz.Load) -> list[Row]:
    """Each scenario against the baseline, then against the service: alternating per scenario,
    so drift on the shared machine touches both sides alike."""
    rows = []
    for scenario in scenarios:
        background: CpuSpent | None = None
        for target, address in (("baseline", sides.baseline), sides.service):
            call = partial(ghz.run, address, scenario.method, scenario.data, load)
            result, spent = cpu_during(partial(call, metadata=sides.metadata))
            cpu = cpu_per_request(spent, background, result.requests) if background else {}
            background = background or spent
            rows.append(Row(group, scenario.name, target, result, offered=load.rps, cpu_ms=cpu))
    return rows


#: How long ``quiesce`` waits for the consumers at most.
QUIESCE_SECONDS = 120.0


def quiesce() -> None:
    """Waits until the services' consumers have nothing pending: the work that a write
    benchmark's events cause (fanout, indexing, trends) is done before the next measurement
    starts, instead of inflating its CPU figures (at most ``QUIESCE_SECONDS``)."""

    async def drained() -> None:
        connection = await connect(StoreSettings().nats_url)
        try:
            jetstream = connection.jetstream()
            deadline = time.monotonic() + QUIESCE_SECONDS
            while time.monotonic() < deadline:
                infos = [
                    await jetstream.consumer_info(STREAM.name or "", config.durable_name or "")
                    for config in CONSUMERS
                ]
                if not sum((i.num_pending or 0) + (i.num_ack_pending or 0) for i in infos):
                    return
                await asyncio.sleep(0.5)
        finally:
            await connection.close()

    asyncio.run(drained())


#: A write scenario runs this many times its measured duration on the service, unmeasured,
#: before it is measured: the stores' JVMs (Cassandra, Neo4j) compile their write paths in the
#: first minutes after they start, and a fresh stack measured at once counted that compilation
#: as the writes' cost (CreateTweet: 12.9 ms of Cassandra CPU a post on a node just started,
#: 2.5 ms on one that had served for an hour).
WARM_UP_FACTOR = 3


def warm_up(do: Scenario, sides: Sides, load: ghz.Load, undo: Scenario | None = None) -> None:
    """Runs ``do`` on the service, unmeasured (then ``undo`` as many times, so the data is as
    it was), and waits for the consumers to settle."""
    address, metadata = sides.service[1], sides.metadata
    warming = replace(load, seconds=load.seconds * WARM_UP_FACTOR, rps=None, requests=None)
    done = ghz.run(address, do.method, do.data, warming, metadata=metadata)
    if undo is not None:
        undoing = replace(load, rps=None, requests=done.requests)
        ghz.run(address, undo.method, undo.data, undoing, metadata=metadata)
    quiesce()


def measure_undone(
    group: str, do: Scenario, undo: Scenario, sides: Sides, load: ghz.Load
) -> list[Row]:
    """``do`` as ``measure`` measures it (after ``warm_up``), then ``undo`` on both sides for
    exactly as many requests as the service took of ``do``, with the same templates, so that
    each undoes what one ``do`` did: the service's data ends as it began."""
    warm_up(do, sides, load, undo)
    rows = measure(group, [do], sides, load)
    done = next(row.result.requests for row in rows if row.target == sides.service[0])
    quiesce()
    rows += measure(group, [undo], sides, replace(load, rps=None, requests=done))
    quiesce()
    return rows


def sweep(
    group: str, scenario: Scenario, sides: Sides, options: Options, rates: list[int]
) -> list[Row]:
    """``scenario`` at each constant offered rate, against the baseline and the service."""
    rows = []
    for rate in rates:
        rows += measure(group, [scenario], sides, options.paced(rate))
    return rows
