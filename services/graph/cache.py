"""Each user's follow counts kept in Redis, so a batch of counts (every profile, every fanout of
a post, every page of users shown with counts) reads Redis instead of Neo4j.

``chirp:graph:counts:<user id>``: the follower and following counts, packed after the user's
counts of followings and followers changes they were read after
(``services/bootstrap/followings.py``). This service counts both changes for every follow and
unfollow once it is stored and before it answers, and a copy is used only while its counts of
changes are still the counts, so a follow shows in the counts at the next read. Users the
store does not know (yet) are kept with zero counts. Kept ``TTL_SECONDS``; Redis failing means
reading Neo4j.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from services.bootstrap.changes import Kept, read_through
from services.bootstrap.followings import followers_changes, followings_changes
from services.bootstrap.resp import Resp
from services.graph.model import FollowCounts
from services.graph.ports import FollowCountSource

TTL_SECONDS = 600

_COUNTS = Kept[FollowCounts](
    struct.Struct(">qqqqq"),
    2,
    lambda counts: (counts.user_id, counts.follower_count, counts.following_count),
    lambda fields: FollowCounts(*fields),
)


def counts_key(user_id: int) -> str:
    return f"chirp:graph:counts:{user_id}"


class RedisFollowCounts:
    """``FollowCountSource`` through Redis: ``source`` (the store) for what is not kept."""

    def __init__(self, redis: Resp, source: FollowCountSource) -> None:
        self._redis = redis
        self._source = source
        self._followings = followings_changes(redis)
        self._followers = followers_changes(redis)

    async def counts(self, user_ids: Sequence[int]) -> dict[int, FollowCounts]:
        wanted = {
            user_id: (
                counts_key(user_id),
                (self._followings.key(user_id), self._followers.key(user_id)),
            )
            for user_id in user_ids
        }
        return await read_through(self._redis, wanted, _COUNTS, self._load, TTL_SECONDS)

    async def _load(self, user_ids: list[int]) -> dict[int, FollowCounts]:
        """The source's counts, and zeros for users it does not know yet: kept too, since only
        a follow, which counts as a change, can make them other than zero."""
        found = await self._source.counts(user_ids)
        return {user_id: found.get(user_id, FollowCounts(user_id)) for user_id in user_ids}
