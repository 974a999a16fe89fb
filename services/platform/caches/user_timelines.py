"""The newest ids of user timelines in Redis: the tweets service (which owns tweets) keeps them
for the first pages of ``ListUserTweets``, and the timelines service reads them too, to merge a
celebrity's tweets into their followers' home pages.

``chirp:tweets:user-timeline:{<user id>}``: a head of two 8-byte big-endian ints (the count of
writes to that timeline the ids are current at, ``timeline_writes.py``; and 1 if they are all of
it, else 0), then the newest ``KEPT_IDS`` ids, newest first, 8-byte big-endian each. The ids
are current while the head's count is the timeline's count of writes. A post or retweet
updates them in place (``RedisKeptTimelines.wrote`` counts the write and inserts the id in one
script), so a celebrity's followers keep reading them from Redis while the celebrity posts; any
other write leaves them out of date, to be read again from the store. They expire
``TTL_SECONDS`` after they were read from the store (a write in place keeps the expiry): also
the longest a write whose process died before it was counted can stay unseen in them (a retry
of the post counts it).
"""

from __future__ import annotations

import bisect
import operator
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from services.platform import metrics
from services.platform.caches import timeline_writes
from services.platform.resp import RespClient, Script

#: As many as a home timeline holds by default: a merged celebrity reaches as deep as it.
KEPT_IDS = 800
TTL_SECONDS = 60
_HEAD = struct.Struct(">qq")
_ID = struct.Struct(">q")

# KEYS: the kept ids, the count of writes (in one hash slot: both are tagged with the user id).
# ARGV: the id written (8 bytes; empty for a write that removes), the count's TTL, KEPT_IDS. Ids
# are compared byte by byte (big-endian, positive: the byte order is the number order), not as
# Lua numbers, which are doubles.
_WROTE = Script("""
local count = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if ARGV[1] == '' then return count end
local kept = redis.call('GET', KEYS[1])
if not kept or #kept < 16 or struct.unpack('>i8', kept) ~= count - 1 then return count end
local complete = struct.unpack('>i8', kept, 9)
local ids = string.sub(kept, 17)
local function newer(at)
  for i = 0, 7 do
    local a, b = string.byte(ids, at + i), string.byte(ARGV[1], i + 1)
    if a ~= b then return a > b end
  end
  return false
end
local at = 1
while at <= #ids and newer(at) do at = at + 8 end
if string.sub(ids, at, at + 7) ~= ARGV[1] then
  ids = string.sub(ids, 1, at - 1) .. ARGV[1] .. string.sub(ids, at)
end
if #ids > tonumber(ARGV[3]) * 8 then
  ids = string.sub(ids, 1, tonumber(ARGV[3]) * 8)
  complete = 0
end
redis.call('SET', KEYS[1], struct.pack('>i8>i8', count, complete) .. ids, 'KEEPTTL')
return count
""")


def user_timeline_key(user_id: int) -> str:
    return f"chirp:tweets:user-timeline:{{{user_id}}}"


class PackedIds(Sequence[int]):
    """Ids as kept (8-byte big-endian), each unpacked only when it is looked at: a page reads a
    few dozen of a celebrity's 800."""

    __slots__ = ("_count", "_data", "_offset")

    def __init__(self, data: bytes, offset: int = 0, count: int | None = None) -> None:
        self._data = data
        self._offset = offset
        self._count = (len(data) - offset) // 8 if count is None else count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> PackedIds: ...
    def __getitem__(self, index: int | slice) -> int | PackedIds:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step != 1:
                raise ValueError("kept ids are sliced in order only")
            return PackedIds(self._data, self._offset + 8 * start, max(stop - start, 0))
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return int(_ID.unpack_from(self._data, self._offset + 8 * index)[0])

    def __iter__(self) -> Iterator[int]:
        end = self._offset + 8 * self._count
        return (i for (i,) in _ID.iter_unpack(self._data[self._offset : end]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class KeptIds:
    """A user timeline's newest ids, newest first; ``complete`` when they are all of it."""

    ids: Sequence[int]
    complete: bool


def ids_below(ids: Sequence[int], before: int | None) -> Sequence[int]:
    """The ids of a newest-first list that are below ``before`` (all for None), found by
    bisection: the ids above are never looked at."""
    if before is None:
        return ids
    return ids[bisect.bisect_right(ids, -before, key=operator.neg) :]


def _current(value: object, writes: int) -> KeptIds | None:
    if not isinstance(value, bytes) or len(value) < _HEAD.size:
        return None
    read_at, complete = _HEAD.unpack_from(value)
    if read_at != writes:
        return None
    return KeptIds(PackedIds(value, _HEAD.size), complete=bool(complete))


class RedisKeptTimelines:
    """Reads and writes of the kept ids. Redis errors reach the caller (a cache's callers
    decide what a failure means: a miss, or a write not counted)."""

    def __init__(self, redis: RespClient) -> None:
        self._redis = redis
        self._writes = timeline_writes.timeline_writes(redis)

    async def get(self, user_ids: Sequence[int]) -> tuple[dict[int, KeptIds], dict[int, int]]:
        """In one round trip: the current kept ids of those timelines that have them, and
        every timeline's count of writes (to keep ids read from the store under)."""
        keys = [user_timeline_key(u) for u in user_ids] + [self._writes.key(u) for u in user_ids]
        values = await self._redis.call("MGET", *keys)
        counts = {u: int(values[len(user_ids) + i] or 0) for i, u in enumerate(user_ids)}
        kept = {u: _current(values[i], counts[u]) for i, u in enumerate(user_ids)}
        current = {u: ids for u, ids in kept.items() if ids is not None}
        metrics.looked_up("user_timelines", len(current), len(user_ids) - len(current))
        return current, counts

    async def keep(self, user_id: int, writes: int, kept: KeptIds) -> None:
        """Keeps ids read from the store after ``writes`` writes."""
        value = _HEAD.pack(writes, int(kept.complete)) + struct.pack(
            f">{len(kept.ids)}q", *kept.ids
        )
        await self._redis.call("SET", user_timeline_key(user_id), value, "EX", TTL_SECONDS)

    async def wrote(self, user_id: int, added: int | None) -> None:
        """Counts a write to the user's timeline; ``added``, the id a post or retweet added,
        goes into the kept ids if they were current."""
        await self._redis.run(
            _WROTE,
            [user_timeline_key(user_id), self._writes.key(user_id)],
            [b"" if added is None else _ID.pack(added), timeline_writes.TTL_SECONDS, KEPT_IDS],
        )
