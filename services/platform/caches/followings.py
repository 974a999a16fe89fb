"""How many times each user's followings and followers have changed (``changes.py``): the graph
service, which owns follows, counts a follow or unfollow as a change of the follower's followings
and of the followee's followers as soon as it is stored and before it answers, so a reader that
keeps something derived from them (the timelines service keeps the celebrities each reader
follows, the users service each profile's counts and relationships) sees at its next read that
its copy is out of date.

``chirp:graph:followings-changed:{<user id>}`` and ``chirp:graph:followers-changed:{<user id>}``:
integers, kept ``TTL_SECONDS`` after the last change.
"""

from __future__ import annotations

import asyncio

from services.platform.caches.changes import RedisChangeCounts
from services.platform.resp import RespClient

FOLLOWINGS_PREFIX = "chirp:graph:followings-changed:"
FOLLOWERS_PREFIX = "chirp:graph:followers-changed:"
TTL_SECONDS = 30 * 24 * 3600


def followings_changes(redis: RespClient) -> RedisChangeCounts:
    return RedisChangeCounts(redis, FOLLOWINGS_PREFIX, TTL_SECONDS)


def followers_changes(redis: RespClient) -> RedisChangeCounts:
    return RedisChangeCounts(redis, FOLLOWERS_PREFIX, TTL_SECONDS)


class RedisFollowChanges:
    def __init__(self, redis: RespClient) -> None:
        self._followings = followings_changes(redis)
        self._followers = followers_changes(redis)

    async def changed(self, follower_id: int, followee_id: int) -> None:
        """Counts a follow or unfollow of ``followee_id`` by ``follower_id``."""
        await asyncio.gather(
            self._followings.changed(follower_id), self._followers.changed(followee_id)
        )
