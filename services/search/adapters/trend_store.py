"""Trend counts in Redis, per time bucket, by distinct authors.

Keys (``<p>`` is the prefix, ``chirp:trends`` in production; ``<b>`` a bucket number):

* ``{<p>}:<b>:tweets``: the ids of tweets counted in the bucket (a redelivered tweet is not
  counted twice, so tweet counts are exact under redelivery too).
* ``{<p>}:<b>:a:<term>``: a set of the authors who used the term in the bucket.
* ``{<p>}:<b>:authors`` / ``{<p>}:<b>:n``: sorted sets term -> distinct authors / tweets in
  the bucket, kept by the same script.
* ``{<p>}:baseline:<first>:<last>``: the authors sorted sets of buckets ``first..last`` summed
  (``author_sums``), kept for one bucket's time.
* ``{<p>}:peaks``: hash term -> ``score at``; ``{<p>}:current``: the published trends (JSON);
  ``{<p>}:lock``: which replica recomputes.

Every bucket key expires once it is older than the window plus the baseline. Every key has the
hash tag ``{<p>}``, so on a Redis Cluster all of them are in one slot: the recording script, the
unions over the window's buckets and the publishing transaction each touch one node. That
costs no spread: the writes of any moment all go to the current bucket anyway, and the reads
are one recompute every few seconds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from services.platform.resp import RespClient, Script
from services.search.trends import Peak, Trend, TrendParams

#: KEYS: tweets set, authors zset, tweet-count zset. ARGV: tweet id, author id, TTL, the
#: prefix of the author sets, then the terms.
_RECORD = Script("""
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
local ttl = tonumber(ARGV[3])
redis.call('EXPIRE', KEYS[1], ttl)
for i = 5, #ARGV do
  local term = ARGV[i]
  local authors = ARGV[4] .. term
  redis.call('ZINCRBY', KEYS[3], 1, term)
  if redis.call('SADD', authors, ARGV[2]) == 1 then
    redis.call('ZINCRBY', KEYS[2], 1, term)
  end
  redis.call('EXPIRE', authors, ttl)
end
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
return 1
""")

#: Terms whose distinct authors one script counts (``distinct_authors``): about a millisecond
#: of Redis with the default window of 5 buckets.
DISTINCT_CHUNK = 100

#: KEYS: a scratch key. ARGV: the number of buckets n, the n author-set prefixes, then the
#: terms. Returns each term's distinct authors over those buckets.
_DISTINCT = Script("""
local n = tonumber(ARGV[1])
local result = {}
for i = n + 2, #ARGV do
  local keys = {}
  for b = 2, n + 1 do keys[#keys + 1] = ARGV[b] .. ARGV[i] end
  result[#result + 1] = redis.call('SUNIONSTORE', KEYS[1], unpack(keys))
end
redis.call('DEL', KEYS[1])
return result
""")


class RedisTrendStore:
    def __init__(
        self, redis: RespClient, params: TrendParams, prefix: str = "chirp:trends"
    ) -> None:
        self._redis = redis
        self._params = params
        self._prefix = prefix

    def _key(self, *parts: str | int) -> str:
        return ":".join((f"{{{self._prefix}}}", *map(str, parts)))

    @property
    def _ttl(self) -> int:
        p = self._params
        return (p.window_buckets + p.baseline_buckets + 1) * p.bucket_seconds

    async def record(self, tweets: Sequence[tuple[int, int, int, Sequence[str]]]) -> None:
        await self._redis.run_each(
            _RECORD,
            [
                (
                    [self._key(bucket, name) for name in ("tweets", "authors", "n")],
                    [tweet_id, author_id, self._ttl, self._key(bucket, "a:"), *terms],
                )
                for tweet_id, author_id, bucket, terms in tweets
                if terms
            ],
        )

    async def frequent(self, buckets: Sequence[int], minimum: int, limit: int) -> dict[str, int]:
        """Terms whose distinct authors, summed over the buckets, reach ``minimum`` (the
        ``limit`` highest), with those sums."""
        scratch = self._key("scratch", uuid.uuid4().hex)
        keys = [self._key(b, "authors") for b in buckets]
        *_, (_, found, _) = await self._redis.pipeline(
            [
                ("MULTI",),
                ("ZUNIONSTORE", scratch, len(keys), *keys),
                ("ZREVRANGEBYSCORE", scratch, "+inf", minimum, "WITHSCORES", "LIMIT", 0, limit),
                ("DEL", scratch),
                ("EXEC",),
            ]
        )
        return {_text(term): int(float(total)) for term, total in _pairs(found)}

    async def author_sums(self, buckets: Sequence[int], terms: Sequence[str]) -> list[int]:
        """Each term's distinct authors summed over ``buckets``, past ones (the baseline). A
        recompute asks this of every frequent term (up to ``MAX_SCANNED``) over the baseline's
        60 buckets, which only moves once a bucket: the sums are kept in one sorted set for a
        bucket's time (``{<p>}:baseline:<first>:<last>``, made by Redis from the buckets'), so
        each recompute reads one score a term, not one a term per bucket. A tweet counted late
        into one of those buckets shows in the sums once the baseline moves on."""
        if not terms:
            return []
        summed = self._key("baseline", buckets[0], buckets[-1])
        # Whether the sums are kept and the scores, in one transaction: read apart, the sums
        # could expire in between and every term would read a baseline of 0.
        *_, (kept, scores) = await self._redis.pipeline(
            [("MULTI",), ("EXISTS", summed), ("ZMSCORE", summed, *terms), ("EXEC",)]
        )
        if not kept:
            keys = [self._key(bucket, "authors") for bucket in buckets]
            *_, (_, _, scores) = await self._redis.pipeline(
                [
                    ("MULTI",),
                    ("ZUNIONSTORE", summed, len(keys), *keys),
                    ("EXPIRE", summed, self._params.bucket_seconds),
                    ("ZMSCORE", summed, *terms),
                    ("EXEC",),
                ]
            )
        return [int(float(score or 0)) for score in scores]

    async def tweet_sums(self, buckets: Sequence[int], terms: Sequence[str]) -> list[int]:
        if not terms:
            return []
        rows = await self._redis.pipeline(
            [("ZMSCORE", self._key(bucket, "n"), *terms) for bucket in buckets]
        )
        return [int(sum(float(row[i] or 0) for row in rows)) for i in range(len(terms))]

    async def distinct_authors(self, buckets: Sequence[int], terms: Sequence[str]) -> list[int]:
        """The unions run in Redis, ``DISTINCT_CHUNK`` terms a script, one script at a time: a
        recompute's thousand and more terms in one script held Redis 9-14 ms, and every other
        command of the stack (home reads, tweet cache reads) waited behind it."""
        scratch = self._key("scratch", uuid.uuid4().hex)
        prefixes = [self._key(b, "a:") for b in buckets]
        counted: list[int] = []
        for start in range(0, len(terms), DISTINCT_CHUNK):
            chunk = terms[start : start + DISTINCT_CHUNK]
            replies = await self._redis.run(_DISTINCT, [scratch], [len(buckets), *prefixes, *chunk])
            counted.extend(int(n) for n in replies)
        return counted

    async def peaks(self) -> dict[str, Peak]:
        stored = await self._redis.call("HGETALL", self._key("peaks"))
        peaks = {}
        for term, value in _pairs(stored):
            peak_score, at = _text(value).split()
            peaks[_text(term)] = Peak(float(peak_score), float(at))
        return peaks

    async def publish(self, trends: Sequence[Trend], peaks: dict[str, Peak]) -> None:
        snapshot = json.dumps([[t.term, t.tweets, t.authors, t.score] for t in trends])
        key = self._key("peaks")
        kept = [part for term, p in peaks.items() for part in (term, f"{p.score} {p.at}")]
        await self._redis.pipeline(
            [
                ("MULTI",),
                ("DEL", key),
                *([("HSET", key, *kept)] if kept else []),
                ("SET", self._key("current"), snapshot),
                ("EXEC",),
            ]
        )

    async def current(self) -> list[Trend]:
        snapshot = await self._redis.call("GET", self._key("current"))
        if not snapshot:
            return []
        return [Trend(str(t), int(n), int(a), float(s)) for t, n, a, s in json.loads(snapshot)]

    async def claim(self, seconds: float) -> bool:
        lock = self._key("lock")
        claimed = await self._redis.call(
            "SET", lock, uuid.uuid4().hex, "NX", "PX", max(int(seconds * 1000), 1)
        )
        return claimed is not None


def _pairs(flat: Sequence[Any]) -> list[tuple[Any, Any]]:
    """A flat reply (field, value, field, value...) as pairs."""
    return list(zip(flat[::2], flat[1::2], strict=True))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
