"""What the edge costs per request, measured in one run on the no-op services: each HTTP filter
of the gateway and each server interceptor of the platform.

Filters: the gateway's own configuration in front of the no-op services (as the mix's baseline
gateway), with every filter, then without each filter in turn, then with the transcoder and the
router alone; each measured with wrk over 32 connections, as fast as it answers, on
``GET /v1/tweets/{id}`` with a valid token (the no-op GetTweet). A filter's cost is Envoy's CPU
per request with every filter less Envoy's CPU per request without that one.

Interceptors: the no-op services with every interceptor, without each in turn, and with none,
measured with ghz on GetTweet (a token sent); an interceptor's cost is the server's CPU per
request with all of them less without that one. Tracing's cost: the same with every request
traced (a server span exported to Jaeger for each), and with tracing off; "all" is traced as
the run's services are (``CHIRP_TRACING_SAMPLE_RATIO``: 1% when ``make bench`` starts the stack).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from benchmarks import common, ghz, workload
from benchmarks.common import Options, Served
from benchmarks.dataset import Dataset
from benchmarks.report import Report
from benchmarks.tweets import SERVICE as TWEETS_SERVICE

FILTERS = (
    "envoy.filters.http.cors",
    "envoy.filters.http.rbac",
    "envoy.filters.http.jwt_authn",
    "envoy.filters.http.local_ratelimit",
    "envoy.filters.http.buffer",
    "envoy.filters.http.lua",  # conditional GETs (304)
    "chirp.request_check",  # gateway/request_check.lua
)
INTERCEPTORS = (
    "RequestContextInterceptor",
    "MetricsInterceptor",
    "ExceptionToStatusInterceptor",
    "AuthInterceptor",
)
AS_FAST_AS_IT_ANSWERS = 1_000_000  # requests/s: wrk's pacing never waits


def _variants(names: tuple[str, ...], none: str) -> list[tuple[str, tuple[str, ...]]]:
    return [("all", ()), *((f"without {name}", (name,)) for name in names), (none, names)]


def _measured(served: Served, measure: Callable[[], ghz.Result]) -> tuple[ghz.Result, float]:
    """``measure()``'s result and ``served``'s CPU milliseconds per request meanwhile."""
    before = served.cpu_seconds()
    result = measure()
    return result, (served.cpu_seconds() - before) * 1000 / max(result.requests, 1)


def _table(group: str, measured: list[tuple[str, ghz.Result, float]], who: str) -> list[str]:
    all_cpu = measured[0][2]
    lines = [
        f"| {group} | rps | p50 ms | p99 ms | {who} CPU ms/request | saved per request |",
        "|---|---|---|---|---|---|",
    ]
    for name, result, cpu in measured:
        saved = "" if name == "all" else f"{all_cpu - cpu:+.3f} ms"
        lines.append(
            f"| {name} | {result.rps:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.1f} "
            f"| {cpu:.3f} | {saved} |"
        )
    return lines


def _flat_out(address: str, line: str, seconds: int) -> ghz.Result:
    return workload.run_wrk(address, [line], AS_FAST_AS_IT_ANSWERS, seconds).result


def filters(options: Options, token: str) -> list[tuple[str, ghz.Result, float]]:
    line = f"GET\t/v1/tweets/1\t{token}\t"
    measured = []
    with common.baseline_server() as noop:
        for name, without in _variants(FILTERS, "transcoder and router alone"):
            with workload.baseline_gateway(noop, without) as envoy:
                send = partial(_flat_out, envoy.address, line, options.seconds)
                result, cpu = _measured(envoy, send)
            measured.append((name, result, cpu))
            print(f"  filters {name}: {result.rps:.0f}/s, Envoy {cpu:.3f} ms/request", flush=True)
    return measured


#: The tracing rows of the interceptors' table: every interceptor, with every request traced
#: (each a span exported to Jaeger), and with tracing off; "all" is traced as the run's services.
TRACING = (
    ("all, every request traced", {"CHIRP_TRACING_SAMPLE_RATIO": "1"}),
    ("all, tracing off", {"CHIRP_TRACING_ENABLED": "false"}),
)


def interceptors(options: Options, token: str) -> list[tuple[str, ghz.Result, float]]:
    measured = []
    variants = [
        *((name, ",".join(without), {}) for name, without in _variants(INTERCEPTORS, "none")),
        *((name, "", env) for name, env in TRACING),
    ]
    for name, without, env in variants:
        with common.noop_server(without=without, env=env) as noop:
            call = partial(
                ghz.run,
                noop.address,
                f"{TWEETS_SERVICE}/GetTweet",
                {"id": "1"},
                options.load,
                metadata=common.bearer(token),
            )
            result, cpu = _measured(noop, call)
        measured.append((name, result, cpu))
        print(f"  interceptors {name}: {result.rps:.0f}/s, {cpu:.3f} ms/request", flush=True)
    return measured


def run(options: Options, data: Dataset, report: Report) -> None:
    token = data.token(data.push_reader)
    by_filter = filters(options, token)
    by_interceptor = interceptors(options, token)
    report.section(
        "The edge's own cost",
        "\n".join(
            [
                __doc__.split("\n\n", 1)[1].strip(),
                "",
                *_table("gateway filters", by_filter, "Envoy"),
                "",
                *_table("server interceptors", by_interceptor, "no-op server"),
            ]
        ),
    )
