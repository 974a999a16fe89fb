"""``make bench`` (``python -m benchmarks [CONCURRENCY SECONDS]``): every benchmark, as tables."""

from __future__ import annotations

import sys

from benchmarks import tweets

if __name__ == "__main__":
    sys.exit(tweets.main(sys.argv[1:]))
