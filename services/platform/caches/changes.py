"""Counts of changes in Redis, for readers that keep something derived from what changed: the
writer counts each change once it is stored, a reader keeps its copy with the count it was made
at and uses it only while the count is unchanged (readers fetch the count with their copy, by
``key``). Two uses: the followings and followers of each user (``followings.py``) and the
writes to each user timeline (``timeline_writes.py``; the tweets service counts those in the
script that also updates its kept ids, ``user_timelines.py``).

A count is ``<prefix>{<owner id>}``: the hash tag puts it in its owner's Redis Cluster slot, so
a script can change it together with the owner's other keys tagged so (``user_timelines.py``
does). It is kept ``ttl_seconds`` after its last change, which must be far longer than any copy
kept under it, so a count that expired and started again cannot come back to a kept copy's.
When Redis fails, a change is not counted (with a warning): readers then learn of it from the
change's event or when their copy expires.

``read_through`` is the readers' side for copies kept in Redis too: a copy is stored with the
counts it was read after and used only while they are still the counts. A kind of copy may have
a tombstone (``Kept.tombstone``): the value its key holds once the owner is gone, which no copy
replaces, so a read that loaded the owner just before it went cannot keep it after.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from redis.exceptions import RedisError

from services.platform import metrics
from services.platform.resp import RespClient, Script

log = structlog.get_logger()

V = TypeVar("V")


class RedisChangeCounts:
    def __init__(self, redis: RespClient, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def key(self, owner: int) -> str:
        """The key of ``owner``'s count (for readers that fetch it with their copy)."""
        return f"{self._prefix}{{{owner}}}"

    async def changed(self, owner: int) -> None:
        """Counts a change of ``owner``'s."""
        try:
            key = self.key(owner)
            await self._redis.pipeline([("INCR", key), ("EXPIRE", key, self._ttl)])
        except RedisError:
            log.warning("change not counted", key=self.key(owner), exc_info=True)


@dataclass(frozen=True)
class Kept(Generic[V]):
    """How one kind of copy is kept: after the counts of changes it was read at (one ``q``
    each), its values in ``layout``, and how a value becomes those fields and back."""

    #: The cache's name in ``chirp_cache_lookups_total``.
    name: str
    layout: struct.Struct
    stamps: int
    encode: Callable[[V], tuple[Any, ...]]
    decode: Callable[[tuple[Any, ...]], V]
    #: What the key of a gone owner's copy holds (never a copy's size); None: no owner goes.
    tombstone: bytes | None = None


# Keeps a copy unless its key holds the tombstone (ARGV[3]).
_KEEP_UNLESS_GONE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
""")


async def read_through(
    redis: RespClient,
    wanted: Mapping[int, tuple[str, tuple[str, ...]]],
    kept: Kept[V],
    load: Callable[[list[int]], Awaitable[dict[int, V]]],
    ttl_seconds: int,
) -> dict[int, V]:
    """For each owner in ``wanted`` (the key of its copy, the keys of the counts of changes it
    is kept under), the kept copy while those counts are unchanged, else what ``load`` answers,
    kept ``ttl_seconds`` under the counts read before it was asked. Redis failing means asking
    ``load``."""
    keys = [key for copy, stamps in wanted.values() for key in (copy, *stamps)]
    try:
        values = await redis.call("MGET", *keys)
    except RedisError:
        log.warning("kept copies unreadable; asking their owner", exc_info=True)
        return await load(list(wanted))
    width = 1 + kept.stamps
    found: dict[int, V] = {}
    stale: dict[int, tuple[int, ...]] = {}
    for index, owner in enumerate(wanted):
        copy, *changes = values[width * index : width * (index + 1)]
        stamp = tuple(int(change or 0) for change in changes)
        if isinstance(copy, bytes) and len(copy) == kept.layout.size:
            fields = kept.layout.unpack(copy)
            if fields[: kept.stamps] == stamp:
                found[owner] = kept.decode(fields[kept.stamps :])
                continue
        stale[owner] = stamp
    metrics.looked_up(kept.name, len(found), len(stale))
    if stale:
        loaded = await load(list(stale))
        found.update(loaded)
        copies = {
            wanted[owner][0]: kept.layout.pack(*stale[owner], *kept.encode(value))
            for owner, value in loaded.items()
        }
        if kept.tombstone is None:
            await set_all(redis, copies, ttl_seconds)
        else:
            await _keep_unless_gone(redis, copies, ttl_seconds, kept.tombstone)
    return found


async def _keep_unless_gone(
    redis: RespClient, copies: Mapping[str, bytes], ttl_seconds: int, tombstone: bytes
) -> None:
    """``set_all``, but over a gone owner's tombstone (one script per copy: its one key)."""
    calls = [((key,), (copy, ttl_seconds, tombstone)) for key, copy in copies.items()]
    try:
        await redis.run_each(_KEEP_UNLESS_GONE, calls)
    except RedisError:
        log.warning("cache write failed", keys=len(copies), exc_info=True)


async def set_all(redis: RespClient, values: Mapping[str, bytes | int], ttl_seconds: int) -> None:
    """Caches ``values``, each for ``ttl_seconds``; a failure leaves them uncached."""
    if not values:
        return
    try:
        await redis.pipeline(
            [("SET", key, value, "EX", ttl_seconds) for key, value in values.items()]
        )
    except RedisError:
        log.warning("cache write failed", keys=len(values), exc_info=True)
