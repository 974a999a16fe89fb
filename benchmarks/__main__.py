"""``make bench`` (``python -m benchmarks [--quick] [NAME ...]``): loads the dataset unless it is
loaded, runs the named benchmarks (all when none is named) and writes
``benchmarks/results/RESULTS.md`` and its plots, and ``benchmarks/CAPACITY.md``
(``benchmarks/results/quick/`` for both with --quick)."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable

from benchmarks import (
    capacity,
    dataset,
    edge,
    graph,
    mastodon,
    scaling,
    search,
    timelines,
    tweets,
    users,
    workload,
)
from benchmarks.common import Options
from benchmarks.dataset import Dataset
from benchmarks.report import Report

#: In the order they run: search last (its service may still be landing), the mix and the
#: scaling runs after the single-RPC scenarios.
BENCHMARKS: dict[str, Callable[[Options, Dataset, Report], None]] = {
    "tweets": tweets.run,
    "users": users.run,
    "graph": graph.run,
    "timelines": timelines.run,
    "workload": workload.run,
    "edge": edge.run,
    "mastodon": mastodon.run,
    "scaling": scaling.run,
    "search": search.run,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="small dataset, short runs")
    parser.add_argument("--concurrency", type=int, default=8, help="ghz workers (default 8)")
    parser.add_argument("--seconds", type=int, help="per measurement (default 10, quick 3)")
    parser.add_argument("--reload", action="store_true", help="load the dataset again")
    args = parser.parse_args(argv)
    options = Options(
        quick=args.quick,
        concurrency=args.concurrency,
        seconds=args.seconds or (3 if args.quick else 10),
    )
    report = Report(options)
    data = dataset.prepare(quick=options.quick, reload=args.reload)
    print(f"dataset: {data.summary()}", flush=True)
    failed = 0
    for name in args.names or list(BENCHMARKS):
        started = time.monotonic()
        print(f"\n== {name}", flush=True)
        try:
            BENCHMARKS[name](options, data, report)
        except Exception as error:  # one failed benchmark must not stop the rest
            traceback.print_exc()
            report.note(f"{name} FAILED: {type(error).__name__}: {error}")
            failed = 1
        print(f"== {name}: {time.monotonic() - started:.0f}s", flush=True)
        path = report.write(data.summary())
    if not args.names:  # the plan needs every benchmark's figures
        capacity.write(report)
    print(f"\nresults: {path.relative_to(path.parents[2])}")
    print(path.read_text())
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
