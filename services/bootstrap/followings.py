"""How many times each user's followings have changed (``changes.py``): the graph service, which
owns follows, counts a follow or unfollow as soon as it is stored and before it answers, so a
reader that keeps something derived from a user's followings (the timelines service keeps the
celebrities each reader follows) sees at its next read that the kept copy is out of date.

``chirp:graph:followings-changed:<user id>``: an integer, kept ``TTL_SECONDS`` after the last
change.
"""

from __future__ import annotations

from redis.asyncio import Redis

from services.bootstrap.changes import RedisChangeCounts

PREFIX = "chirp:graph:followings-changed:"
TTL_SECONDS = 30 * 24 * 3600


def followings_changes(redis: Redis) -> RedisChangeCounts:
    return RedisChangeCounts(redis, PREFIX, TTL_SECONDS)
