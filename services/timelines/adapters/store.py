"""Home timelines in Redis.

Keys (this service's; nothing here that cannot be rebuilt):

* ``chirp:timelines:home:<user id>``: a sorted set of tweet ids, every score 0 and every member
  the id zero-padded to 19 digits, so the lexicographic order is the id order, exact (a score
  is a double: Snowflake ids above 2^53 would round). The member ``0000000000000000000`` is a
  sentinel that makes an empty timeline exist. The key's TTL is the active window: every home
  read sets it again, so a key exists exactly for users active within the window (or just
  rebuilt) and fanout writes only to existing keys (one Lua script call per batch of up to a
  thousand timelines: ZCARD, ZADD and, once it is full, a trim of each; one live message).
* ``chirp:timelines:celebrities-followed:<user id>``: the celebrities a reader follows (8-byte
  big-endian ints, or a unique ``!<uuid>`` mark after a forget, which a fill must find unchanged
  to write: ``RedisIdLists``), kept for the active window: a home read finds them
  here instead of asking graph. The first id is the count of changes of the reader's
  followings the list was computed at (``services/platform/caches/followings.py``: graph counts each
  follow and unfollow before answering), so a reader's own follow shows at their next read.
  Forgotten when the reader follows or unfollows anyone (the event, in case a count was lost),
  and for every follower of an author whose follower count crosses the threshold.
* ``chirp:timelines:followers:<author id>``: the author's follower count and followers, in the
  same form, behind the count of changes of the author's followers they were read at (graph
  counts those too), kept ``FOLLOWERS_TTL_SECONDS`` after they were read: an author who posts
  again within the hour is fanned out without asking graph. The first id is that count of
  changes, the second the follower count; a celebrity's list stops there (their tweets are
  merged on read, not fanned out). Forgotten when anyone follows or unfollows the author (the
  event, in case a count was lost).
* ``chirp:timelines:celebrities``: a set of the authors the worker last saw above the threshold
  (so it can tell when one crosses it).
* A forget leaves a mark that holds nothing, kept ``FORGOTTEN_SECONDS`` at most: long enough to
  refuse every fill that read before it (a fill waits on one graph call: seconds), short enough
  that the marks a deleted account's last unfollows leave behind go within minutes.
* Channel ``chirp:timelines:live``: the scripts here publish ``+id,id user,user`` when ids
  enter those users' timelines and ``-id,id user,user`` when they leave; each timelines
  process subscribes once and hands every stream its reader's changes (``live.py``).

A celebrity's newest ids, merged into their followers' pages, are the tweets service's kept ids
of their user timeline (``services/platform/caches/user_timelines.py``), which a post updates
in place.

``erase`` drops every key of a deleted account and its celebrity mark (``TimelineStore.erase``).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from typing import Any

from services.platform.caches.changes import RedisChangeCounts
from services.platform.caches.followings import followers_changes, followings_changes
from services.platform.resp import Arg, RespClient, Script

SENTINEL = "0" * 19
#: Both scripts take many timelines at once (a fanout batch is one script call, not one per
#: follower; on a Redis Cluster one per hash slot among them): KEYS are home timelines, ARGV[1]
#: the prefix of home keys (a key's owner is what follows it) and ARGV[2] the live channel,
#: then the ids from ``first`` on. What they change is published on the channel in as few
#: messages as it takes (``live.py``): ``tell`` gathers the owners whose timelines took every
#: id (all of them, for a fanout's one tweet) into one message, sent by ``tell_all``, and
#: publishes one for each owner whose timeline took some of the ids only.
_TELL = """
local home, channel, told = #ARGV[1], ARGV[2], {}
local function tell(sign, key, changed, wanted)
  if #changed == wanted then
    told[#told + 1] = string.sub(key, home + 1)
  elseif #changed > 0 then
    local owner = string.sub(key, home + 1)
    redis.call('PUBLISH', channel, sign .. table.concat(changed, ',') .. ' ' .. owner)
  end
end
local function tell_all(sign, first)
  if #told > 0 then
    local all = table.concat(ARGV, ',', first)
    redis.call('PUBLISH', channel, sign .. all .. ' ' .. table.concat(told, ','))
  end
end
"""
_PUSH = Script(
    _TELL
    + """
local length, written = tonumber(ARGV[3]), 0
for k = 1, #KEYS do
  local key = KEYS[k]
  local size = redis.call('ZCARD', key)  -- 0: no timeline (its owner is not active)
  if size > 0 then
    local added = {}
    for i = 4, #ARGV do
      if redis.call('ZADD', key, 0, ARGV[i]) == 1 then added[#added + 1] = ARGV[i] end
    end
    if size + #added > length + 1 then redis.call('ZREMRANGEBYRANK', key, 1, -(length + 1)) end
    tell('+', key, added, #ARGV - 3)
    written = written + 1
  end
end
tell_all('+', 4)
return written
"""
)
_FILL = Script("""
local held = redis.call('GET', KEYS[1])
if (held == false and ARGV[2] == '-') or held == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  return 1
end
return 0
""")
_ABSENT = b"-"
_REMOVE = Script(
    _TELL
    + """
for k = 1, #KEYS do
  local removed = {}
  for i = 3, #ARGV do
    if redis.call('ZREM', KEYS[k], ARGV[i]) == 1 then removed[#removed + 1] = ARGV[i] end
  end
  tell('-', KEYS[k], removed, #ARGV - 2)
end
tell_all('-', 3)
return 0
"""
)


HOME_PREFIX = "chirp:timelines:home:"
#: The one channel every change of a home timeline is published on (``live.py``).
LIVE_CHANNEL = "chirp:timelines:live"


def home_key(user_id: int) -> str:
    return f"{HOME_PREFIX}{user_id}"


FOLLOWED_PREFIX = "chirp:timelines:celebrities-followed:"
FOLLOWERS_PREFIX = "chirp:timelines:followers:"
FOLLOWERS_TTL_SECONDS = 3600
CELEBRITIES = "chirp:timelines:celebrities"
#: How long the mark a forget leaves is kept at most (see the module docstring).
FORGOTTEN_SECONDS = 600


def member(tweet_id: int) -> str:
    return f"{tweet_id:019d}"


class RedisTimelineStore:
    def __init__(self, redis: RespClient, *, length: int, active_seconds: int) -> None:
        self._redis = redis
        self._length = length
        self._active_seconds = active_seconds
        self.celebrities_followed = RedisCountedIdLists(
            redis, FOLLOWED_PREFIX, active_seconds, followings_changes(redis)
        )
        self.followers = RedisCountedIdLists(
            redis, FOLLOWERS_PREFIX, FOLLOWERS_TTL_SECONDS, followers_changes(redis)
        )

    async def read(self, user_id: int, before: int | None, limit: int) -> tuple[list[int], bool]:
        key = home_key(user_id)
        top = "+" if before is None else f"({member(before)}"
        members, exists = await self._redis.pipeline(
            [
                ("ZREVRANGEBYLEX", key, top, f"({SENTINEL}", "LIMIT", 0, limit),
                ("EXPIRE", key, self._active_seconds),  # 1 if it exists: marks the owner active
            ]
        )
        return [int(m) for m in members], bool(exists)

    async def store(self, user_id: int, ids: Sequence[int]) -> None:
        key = home_key(user_id)
        scored = [part for i in ids for part in (0, member(i))]
        await self._redis.pipeline(
            [
                ("MULTI",),
                ("ZADD", key, 0, SENTINEL, *scored),
                ("ZREMRANGEBYRANK", key, 1, -(self._length + 1)),
                ("EXPIRE", key, self._active_seconds),
                ("EXEC",),
            ]
        )

    async def push(self, user_ids: Sequence[int], ids: Sequence[int]) -> int:
        if not user_ids or not ids:
            return 0
        args: list[Arg] = [HOME_PREFIX, LIVE_CHANNEL, self._length, *map(member, ids)]
        return sum(await self._each_slot(_PUSH, user_ids, args))

    async def remove(self, user_ids: Sequence[int], ids: Sequence[int]) -> None:
        if not user_ids or not ids:
            return
        await self._each_slot(_REMOVE, user_ids, [HOME_PREFIX, LIVE_CHANNEL, *map(member, ids)])

    async def _each_slot(
        self, script: Script, user_ids: Sequence[int], args: Sequence[Arg]
    ) -> list[Any]:
        """``script`` on the home timelines of ``user_ids``: one call on one Redis, one per
        hash slot among them on a cluster (the script takes its keys one by one)."""
        keys = self._redis.slot_groups([home_key(user_id) for user_id in user_ids])
        return await self._redis.run_each(script, [(group, args) for group in keys])

    async def mark_celebrity(self, author_id: int, *, is_celebrity: bool) -> bool:
        if is_celebrity:
            return bool(await self._redis.call("SADD", CELEBRITIES, author_id))
        return bool(await self._redis.call("SREM", CELEBRITIES, author_id))

    async def erase(self, user_id: int) -> None:
        # One command per key: on a cluster they lie in different slots.
        await self._redis.pipeline(
            [
                ("DEL", home_key(user_id)),
                ("DEL", self.celebrities_followed.key(user_id)),
                ("DEL", self.followers.key(user_id)),
                ("SREM", CELEBRITIES, user_id),
            ]
        )


class RedisIdLists:
    """Lists of ids by owner under ``<prefix><owner id>``: 8-byte big-endian ints, or after a
    ``forget`` a unique ``!<uuid>`` mark (a miss; its length is no multiple of 8, so it is no
    list), which a fill must find unchanged to write (compare-and-set in Lua)."""

    def __init__(self, redis: RespClient, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._forgotten = min(ttl_seconds, FORGOTTEN_SECONDS)

    def key(self, owner: int) -> str:
        return f"{self._prefix}{owner}"

    @staticmethod
    def parse(value: object) -> tuple[list[int] | None, bytes]:
        """What a read of one owner's key found: its list (None if it holds none) and the
        stamp, which is what is held: a list, the mark a forget left, or nothing."""
        if not isinstance(value, bytes):
            return None, _ABSENT
        if len(value) % 8:
            return None, value
        return list(struct.unpack(f">{len(value) // 8}q", value)), value

    async def get(self, owners: Sequence[int]) -> tuple[dict[int, list[int]], dict[int, bytes]]:
        if not owners:
            return {}, {}
        values = await self._redis.call("MGET", *map(self.key, owners))
        found: dict[int, list[int]] = {}
        stamps: dict[int, bytes] = {}
        for owner, value in zip(owners, values, strict=True):
            ids, stamps[owner] = self.parse(value)
            if ids is not None:
                found[owner] = ids
        return found, stamps

    async def fill(self, lists: dict[int, list[int]], stamps: dict[int, bytes]) -> None:
        if not lists:
            return
        await self._redis.run_each(
            _FILL,
            [
                (
                    [self.key(owner)],
                    [struct.pack(f">{len(ids)}q", *ids), stamps.get(owner, _ABSENT), self._ttl],
                )
                for owner, ids in lists.items()
            ],
        )

    async def forget(self, owners: Sequence[int]) -> None:
        if not owners:
            return
        await self._redis.pipeline(
            [
                ("SET", self.key(owner), f"!{uuid.uuid4().hex}", "EX", self._forgotten)
                for owner in owners
            ]
        )


class RedisCountedIdLists(RedisIdLists):
    """Id lists derived from something whose changes are counted
    (``services/platform/caches/changes.py``), each read together with its owner's count of
    changes."""

    def __init__(
        self, redis: RespClient, prefix: str, ttl_seconds: int, changes: RedisChangeCounts
    ) -> None:
        super().__init__(redis, prefix, ttl_seconds)
        self._changes = changes

    async def kept(self, owner: int) -> tuple[list[int] | None, bytes, int]:
        value, changes = await self._redis.call("MGET", self.key(owner), self._changes.key(owner))
        kept, stamp = self.parse(value)
        return kept, stamp, int(changes or 0)
