"""An in-memory ``RateLimiter`` for domain tests: the Redis limiter's rule without its window
(``RedisRateLimiter`` itself is tested on Redis in ``tests/integration/test_ratelimit.py``)."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field

from services.platform.ratelimit import Limit, exhausted

#: For tests of something else: never reached.
UNLIMITED = Limit("unlimited", "actions", sys.maxsize, 60)


@dataclass
class CountingLimiter:
    limit: Limit = UNLIMITED
    counts: Counter[str] = field(default_factory=Counter)

    async def hit(self, subject: str) -> None:
        self.counts[subject] += 1
        if self.counts[subject] > self.limit.requests:
            raise exhausted(self.limit, self.limit.window_seconds)

    async def forget(self, subject: str) -> None:
        self.counts.pop(subject, None)
