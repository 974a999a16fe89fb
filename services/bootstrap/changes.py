"""Counts of changes in Redis, for readers that keep something derived from what changed: the
writer counts each change once it is stored, a reader keeps its copy with the count it was made
at and uses it only while the count is unchanged (readers fetch the count with their copy, by
``key``). Two uses: the followings and followers of each user (``followings.py``) and the
writes to each user timeline (``timeline_writes.py``; the tweets service counts those in the
script that also updates its kept ids, ``user_timelines.py``).

A count is kept ``ttl_seconds`` after its last change, which must be far longer than any copy
kept under it, so a count that expired and started again cannot come back to a kept copy's.
When Redis fails, a change is not counted (with a warning): readers then learn of it from the
change's event or when their copy expires.
"""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError

from services.bootstrap.resp import Resp

log = structlog.get_logger()


class RedisChangeCounts:
    def __init__(self, redis: Resp, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def key(self, owner: int) -> str:
        """The key of ``owner``'s count (for readers that fetch it with their copy)."""
        return f"{self._prefix}{owner}"

    async def changed(self, owner: int) -> None:
        """Counts a change of ``owner``'s."""
        try:
            key = self.key(owner)
            await self._redis.pipeline([("INCR", key), ("EXPIRE", key, self._ttl)])
        except RedisError:
            log.warning("change not counted", key=self.key(owner), exc_info=True)
