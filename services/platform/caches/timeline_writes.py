"""How many times each user's own timeline has been written (``changes.py``): the tweets
service, which owns tweets, counts a post, retweet, delete or undone retweet by a user once it
is stored and the user's tweet count is updated, and before it answers. Its readers keep what
they derived from a user's tweets under the count: the newest ids of each user timeline
(``user_timelines.py``, which also counts the writes), the users service each profile's tweet
count (``services/users/adapters/cache.py``).

``chirp:tweets:user-timeline-writes:{<user id>}``: an integer, kept ``TTL_SECONDS`` after the
last write; in the slot of the user's kept ids (``user_timelines.py``), which one script updates
with it.
"""

from __future__ import annotations

from services.platform.caches.changes import RedisChangeCounts
from services.platform.resp import RespClient

PREFIX = "chirp:tweets:user-timeline-writes:"
TTL_SECONDS = 24 * 3600


def timeline_writes(redis: RespClient) -> RedisChangeCounts:
    return RedisChangeCounts(redis, PREFIX, TTL_SECONDS)
