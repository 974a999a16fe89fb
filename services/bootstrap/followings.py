"""How many times each user's followings have changed, in Redis: the graph service, which owns
follows, counts a follow or unfollow as soon as it is stored and before it answers, so a reader
that keeps something derived from a user's followings (the timelines service keeps the
celebrities each reader follows) sees at its next read that the kept copy is out of date.

``chirp:graph:followings-changed:<user id>``: an integer, kept ``TTL_SECONDS`` after the last
change (a kept copy outliving it is recomputed once when the count starts again).
"""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

TTL_SECONDS = 30 * 24 * 3600

log = structlog.get_logger()


def changes_key(user_id: int) -> str:
    return f"chirp:graph:followings-changed:{user_id}"


class RedisFollowingsChanges:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def changed(self, user_id: int) -> None:
        """Counts a change of ``user_id``'s followings. When Redis fails, the change is not
        counted (with a warning): readers then learn of it from its event, a moment later."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(changes_key(user_id))
                pipe.expire(changes_key(user_id), TTL_SECONDS)
                await pipe.execute()
        except RedisError:
            log.warning("followings change not counted", user_id=user_id, exc_info=True)

    async def count(self, user_id: int) -> int:
        """How many changes there have been (0 when none is recorded)."""
        return int(await self._redis.get(changes_key(user_id)) or 0)
