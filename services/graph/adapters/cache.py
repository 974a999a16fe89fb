"""Each user's follow counts and suggestions kept in Redis, so a batch of counts (every
profile, every fanout of a post, every page of users shown with counts) and a page of
suggestions read Redis instead of Neo4j.

``chirp:graph:counts:{<user id>}``: the follower and following counts and their version (the
node's count of the follows and unfollows that moved them), packed after the user's counts of
followings and followers changes they were read after
(``services/platform/caches/followings.py``). This service counts both changes for every follow
and unfollow once it is stored and before it answers, and a copy is used only while its counts
of changes are still the counts, so a follow shows in the counts at the next read. The follow
itself keeps the counts it made (``RedisCountedChanges``): in the script that counts the change,
a copy that was current just before it (its counts of changes those of the moment, its version
the one before the change's) becomes the change's counts, current after it; any other copy is
left to be read again. So an account followed all the time is still read from Redis, where
every follow used to send the next read of its counts to Neo4j. Users the
store does not know (an account whose node is not made yet, or an erased one, whose
``graph.unfollowed`` events have other services ask for its counts) are not kept: they are
asked of Neo4j again (one index seek), and an erased account leaves no copy behind. Kept
``TTL_SECONDS``; Redis failing means reading Neo4j.

``chirp:graph:suggestions:<user id>``: the user's ranked suggestions (8-byte big-endian ids)
after the count of their followings changes they were ranked at: the user's own follow ranks
them again at the next read; the follows of the people they follow show within
``SUGGESTIONS_TTL_SECONDS`` (who-to-follow is a slowly moving ranking, computed offline at
Twitter's scale; here on the first read after it expired). Pages of suggestions are slices of
one ranking, so they do not shift under the reader.

An erased account's copies are dropped, and its counts of changes with them
(``RedisKeptCopies``); its counts' key holds the tombstone ``ERASED`` for ``TTL_SECONDS``,
which no copy replaces: a read that asked Neo4j just before the node went cannot keep the
counts after the erasure.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Sequence

import structlog
from redis.exceptions import RedisError

from services.graph.model import FollowCounts
from services.graph.ports import FollowCountSource
from services.platform.caches.changes import Kept, read_through
from services.platform.caches.followings import TTL_SECONDS as FOLLOWINGS_TTL
from services.platform.caches.followings import (
    RedisFollowChanges,
    followers_changes,
    followings_changes,
)
from services.platform.resp import Arg, RespClient, Script

TTL_SECONDS = 600
SUGGESTIONS_TTL_SECONDS = 600
#: An erased account's counts' key: no counts, only the mark that keeps stale copies out.
ERASED = b"erased"

log = structlog.get_logger()

_COUNTS = Kept[FollowCounts](
    "follow_counts",
    struct.Struct(">qqqqqq"),
    2,
    lambda counts: (
        counts.user_id,
        counts.follower_count,
        counts.following_count,
        counts.version,
    ),
    lambda fields: FollowCounts(*fields),
    tombstone=ERASED,
)
#: A copy's fields after its two counts of changes: what a change's script is given.
_FIELDS = struct.Struct(">qqqq")

# KEYS: the copy, the user's counts of followings and of followers changes (one slot: {id}).
# ARGV: which count the change moves (2: followings, 3: followers, as KEYS), their TTL, the
# copy's fields after the change (user id, counts, version), that version, the copy's TTL.
# Counts the change; keeps the copy current if it was current just before the change.
_COUNT_AND_KEEP = Script("""
local moved = tonumber(ARGV[1])
local stamps = {tonumber(redis.call('GET', KEYS[2]) or '0'),
                tonumber(redis.call('GET', KEYS[3]) or '0')}
redis.call('INCR', KEYS[moved])
redis.call('EXPIRE', KEYS[moved], ARGV[2])
local copy = redis.call('GET', KEYS[1])
if not copy or string.len(copy) ~= 48
   or string.sub(copy, 1, 16) ~= struct.pack('>i8>i8', stamps[1], stamps[2])
   or struct.unpack('>i8', string.sub(copy, 41, 48)) + 1 ~= tonumber(ARGV[4]) then
  return 0
end
stamps[moved - 1] = stamps[moved - 1] + 1
redis.call('SET', KEYS[1], struct.pack('>i8>i8', stamps[1], stamps[2]) .. ARGV[3], 'EX', ARGV[5])
return 1
""")


def counts_key(user_id: int) -> str:
    return f"chirp:graph:counts:{{{user_id}}}"


class RedisFollowCounts:
    """``FollowCountSource`` through Redis: ``source`` (the store) for what is not kept."""

    def __init__(self, redis: RespClient, source: FollowCountSource) -> None:
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
        return await read_through(self._redis, wanted, _COUNTS, self._source.counts, TTL_SECONDS)


class RedisCountedChanges:
    """``FollowChanges`` that also keeps the counts a change made (see the module's docstring);
    a change without them (an erasure's) is only counted. Redis failing means the change is
    not counted, with a warning (as ``RedisChangeCounts`` does)."""

    def __init__(self, redis: RespClient) -> None:
        self._redis = redis
        self._followings = followings_changes(redis)
        self._followers = followers_changes(redis)
        self._counted = RedisFollowChanges(redis)

    async def changed(
        self,
        follower_id: int,
        followee_id: int,
        counts: tuple[FollowCounts, FollowCounts] | None = None,
    ) -> None:
        if counts is None:
            await self._counted.changed(follower_id, followee_id)
            return
        follower, followee = counts
        calls = [self._count_and_keep(follower, moved=2), self._count_and_keep(followee, moved=3)]
        try:
            await self._redis.run_each(_COUNT_AND_KEEP, calls)
        except RedisError:
            log.warning("change not counted", follower=follower_id, exc_info=True)

    def _count_and_keep(self, counts: FollowCounts, *, moved: int) -> tuple[list[Arg], list[Arg]]:
        user_id = counts.user_id
        keys: list[Arg] = [
            counts_key(user_id),
            self._followings.key(user_id),
            self._followers.key(user_id),
        ]
        fields = _FIELDS.pack(*_COUNTS.encode(counts))
        return keys, [moved, FOLLOWINGS_TTL, fields, counts.version, TTL_SECONDS]


def suggestions_key(user_id: int) -> str:
    return f"chirp:graph:suggestions:{user_id}"


class RedisKeptCopies:
    """``KeptCopies``: a user's kept counts and suggestions, and the counts of changes of their
    followings and followers, which this service writes. A count dropped and started again
    could match a stale copy kept under it, but every copy kept under an erased account's
    counts is a copy about that account (its counts, its relationships, the celebrities it
    follows), which nothing shows once the account is gone; and no follow of it can count a
    change again."""

    def __init__(self, redis: RespClient) -> None:
        self._redis = redis
        self._followings = followings_changes(redis)
        self._followers = followers_changes(redis)

    async def forget(self, user_id: int) -> None:
        """Redis failing raises: the erasure is redelivered until it is done."""
        dropped = (
            suggestions_key(user_id),
            self._followings.key(user_id),
            self._followers.key(user_id),
        )
        await self._redis.pipeline(
            [
                ("SET", counts_key(user_id), ERASED, "EX", TTL_SECONDS),
                *(("DEL", key) for key in dropped),
            ]
        )


class RedisSuggestions:
    """``SuggestionCache`` in Redis (see the module's docstring)."""

    def __init__(self, redis: RespClient) -> None:
        self._redis = redis
        self._followings = followings_changes(redis)

    async def ranked(self, user_id: int, rank: Callable[[], Awaitable[list[int]]]) -> list[int]:
        key = suggestions_key(user_id)
        try:
            kept, changes = await self._redis.call("MGET", key, self._followings.key(user_id))
        except RedisError:
            log.warning("suggestions unreadable; ranking them again", exc_info=True)
            return await rank()
        stamp = int(changes or 0)
        if isinstance(kept, bytes) and len(kept) % 8 == 0 and kept:
            at, *ids = struct.unpack(f">{len(kept) // 8}q", kept)
            if at == stamp:
                return ids
        ranked = await rank()
        value = struct.pack(f">{len(ranked) + 1}q", stamp, *ranked)
        try:
            await self._redis.call("SET", key, value, "EX", SUGGESTIONS_TTL_SECONDS)
        except RedisError:
            log.warning("suggestions not kept", exc_info=True)
        return ranked
