"""Trend counts in Redis, per time bucket, by distinct authors.

Keys (``<p>`` is the prefix, ``chirp:trends`` in production; ``<b>`` a bucket number):

* ``<p>:{<b>}:tweets``: the ids of tweets counted in the bucket (a redelivered tweet is not
  counted twice, so tweet counts are exact under redelivery too).
* ``<p>:{<b>}:a:<term>``: a set of the authors who used the term in the bucket.
* ``<p>:{<b>}:authors`` / ``<p>:{<b>}:n``: sorted sets term -> distinct authors / tweets in
  the bucket, kept by the same script.
* ``<p>:peaks``: hash term -> ``score at``; ``<p>:current``: the published trends (JSON);
  ``<p>:lock``: which replica recomputes.

Every bucket key expires once it is older than the window plus the baseline. A bucket's keys
share the hash tag ``{<b>}``, so the recording script touches one Redis Cluster slot; the
window's union of author sets spans buckets (on a cluster it would be done per shard).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis

from services.search.trends import Peak, Trend, TrendParams

#: KEYS: tweets set, authors zset, tweet-count zset. ARGV: tweet id, author id, TTL, the
#: prefix of the author sets, then the terms.
_RECORD = """
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
"""

#: ARGV: a scratch key, the number of buckets n, the n author-set prefixes, then the terms.
#: Returns each term's distinct authors over those buckets.
_DISTINCT = """
local scratch = ARGV[1]
local n = tonumber(ARGV[2])
local result = {}
for i = n + 3, #ARGV do
  local keys = {}
  for b = 3, n + 2 do keys[#keys + 1] = ARGV[b] .. ARGV[i] end
  result[#result + 1] = redis.call('SUNIONSTORE', scratch, unpack(keys))
end
redis.call('DEL', scratch)
return result
"""


class RedisTrendStore:
    def __init__(self, redis: Redis, params: TrendParams, prefix: str = "chirp:trends") -> None:
        self._redis = redis
        self._params = params
        self._prefix = prefix
        self._record = redis.register_script(_RECORD)
        self._distinct = redis.register_script(_DISTINCT)

    def _bucket_key(self, bucket: int, name: str) -> str:
        return f"{self._prefix}:{{{bucket}}}:{name}"

    @property
    def _ttl(self) -> int:
        p = self._params
        return (p.window_buckets + p.baseline_buckets + 1) * p.bucket_seconds

    async def record(self, tweets: Sequence[tuple[int, int, int, Sequence[str]]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for tweet_id, author_id, bucket, terms in tweets:
                if not terms:
                    continue
                keys = [self._bucket_key(bucket, n) for n in ("tweets", "authors", "n")]
                args: list[str | int] = [
                    tweet_id, author_id, self._ttl, self._bucket_key(bucket, "a:"), *terms
                ]  # fmt: skip
                await self._record(keys=keys, args=args, client=pipe)
            await pipe.execute()

    async def frequent(self, buckets: Sequence[int], minimum: int, limit: int) -> dict[str, int]:
        """Terms whose distinct authors, summed over the buckets, reach ``minimum`` (the
        ``limit`` highest), with those sums."""
        scratch = f"{self._prefix}:scratch:{uuid.uuid4().hex}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zunionstore(scratch, [self._bucket_key(b, "authors") for b in buckets])
            pipe.zrevrangebyscore(scratch, "+inf", minimum, 0, limit, withscores=True)
            pipe.delete(scratch)
            _, found, _ = await pipe.execute()
        return {_text(term): int(total) for term, total in found}

    async def author_sums(self, buckets: Sequence[int], terms: Sequence[str]) -> list[int]:
        return await self._sum_scores(buckets, "authors", terms)

    async def tweet_sums(self, buckets: Sequence[int], terms: Sequence[str]) -> list[int]:
        return await self._sum_scores(buckets, "n", terms)

    async def distinct_authors(self, buckets: Sequence[int], terms: Sequence[str]) -> list[int]:
        if not terms:
            return []
        scratch = f"{self._prefix}:scratch:{uuid.uuid4().hex}"
        prefixes = [self._bucket_key(b, "a:") for b in buckets]
        counted = await self._distinct(keys=[], args=[scratch, len(buckets), *prefixes, *terms])
        return [int(n) for n in counted]

    async def _sum_scores(
        self, buckets: Sequence[int], name: str, terms: Sequence[str]
    ) -> list[int]:
        if not terms:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                pipe.zmscore(self._bucket_key(bucket, name), list(terms))
            rows = await pipe.execute()
        return [int(sum(row[i] or 0 for row in rows)) for i in range(len(terms))]

    async def peaks(self) -> dict[str, Peak]:
        stored = await self._redis.hgetall(f"{self._prefix}:peaks")
        peaks = {}
        for term, value in stored.items():
            peak_score, at = _text(value).split()
            peaks[_text(term)] = Peak(float(peak_score), float(at))
        return peaks

    async def publish(self, trends: Sequence[Trend], peaks: dict[str, Peak]) -> None:
        snapshot = json.dumps([[t.term, t.tweets, t.authors, t.score] for t in trends])
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"{self._prefix}:peaks")
            if peaks:
                pipe.hset(
                    f"{self._prefix}:peaks",
                    mapping={term: f"{p.score} {p.at}" for term, p in peaks.items()},
                )
            pipe.set(f"{self._prefix}:current", snapshot)
            await pipe.execute()

    async def current(self) -> list[Trend]:
        snapshot = await self._redis.get(f"{self._prefix}:current")
        if not snapshot:
            return []
        return [Trend(str(t), int(n), int(a), float(s)) for t, n, a, s in json.loads(snapshot)]

    async def claim(self, seconds: float) -> bool:
        claimed = await self._redis.set(
            f"{self._prefix}:lock", uuid.uuid4().hex, nx=True, px=max(int(seconds * 1000), 1)
        )
        return bool(claimed)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
