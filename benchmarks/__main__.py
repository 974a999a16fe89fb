"""``make bench`` (``python -m benchmarks [NAME ...] [CONCURRENCY [SECONDS]]``): the named
benchmarks (all when none is named), as tables."""

from __future__ import annotations

import sys
from collections.abc import Callable

from benchmarks import graph, timelines, tweets

BENCHMARKS: dict[str, Callable[[list[str]], int]] = {
    "tweets": tweets.main,
    "graph": graph.main,
    "timelines": timelines.main,
}


def main(argv: list[str]) -> int:
    names = [arg for arg in argv if arg in BENCHMARKS] or list(BENCHMARKS)
    load = [arg for arg in argv if arg not in BENCHMARKS]
    failed = 0
    for index, name in enumerate(names):
        if index:
            print()
        failed |= BENCHMARKS[name](load)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
