"""User timelines in time buckets: which bucket an id falls in, and how a read walks them.

A user's timeline (their tweets, replies and retweets) is stored in one partition per
(user, bucket), a bucket being ``BUCKET_DAYS`` days since the Chirp epoch, derived from the
Snowflake id alone. A prolific account fills a partition with at most a month of posts, so
none grows without bound. Next to it an index lists the buckets each user has posted in, so a
read skips the months a user was silent instead of probing them one by one; buckets emptied
by deletes are still walked, at most ``MAX_BUCKETS_PER_READ`` per read, after which the read
returns what it has with a cursor at that bucket's edge.

Cursors are ids: a page continues with the ids below the last one it showed, so tweets posted
while someone pages never shift or repeat what they see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.platform.ids import CHIRP_EPOCH_MS, compose, timestamp_ms

BUCKET_DAYS = 30
BUCKET_MS = BUCKET_DAYS * 24 * 3600 * 1000
MAX_BUCKETS_PER_READ = 8


def bucket_of(snowflake: int) -> int:
    return (timestamp_ms(snowflake) - CHIRP_EPOCH_MS) // BUCKET_MS


def first_id_of(bucket: int) -> int:
    """The smallest id that falls in ``bucket``."""
    return compose(CHIRP_EPOCH_MS + bucket * BUCKET_MS, 0, 0)


class TimelineReader(Protocol):
    async def buckets(self, user_id: int, at_most: int | None, limit: int) -> list[int]:
        """The user's buckets, newest first, up to ``at_most`` (all when None)."""
        ...

    async def ids(
        self, user_id: int, bucket: int, before: int | None, since: int, limit: int
    ) -> list[int]:
        """Ids in one bucket below ``before`` (if set) and at least ``since``, newest first."""
        ...


@dataclass(frozen=True)
class Slice:
    ids: list[int]
    #: Where the next read continues (ids below it); None when nothing older is left.
    next_before: int | None


async def read_slice(
    reader: TimelineReader,
    user_id: int,
    *,
    limit: int,
    before: int | None = None,
    since: int = 0,
) -> Slice:
    """Up to ``limit`` ids of the user's timeline, newest first, below ``before``."""
    at_most = None if before is None else bucket_of(before)
    buckets = await reader.buckets(user_id, at_most, MAX_BUCKETS_PER_READ + 1)
    found: list[int] = []
    for walked, bucket in enumerate(buckets):
        if walked == MAX_BUCKETS_PER_READ:
            return Slice(found, first_id_of(buckets[walked - 1]))
        if first_id_of(bucket + 1) <= since:
            break
        # One more than asked for tells whether anything is left after this slice.
        found += await reader.ids(user_id, bucket, before, since, limit + 1 - len(found))
        if len(found) > limit:
            return Slice(found[:limit], found[limit - 1])
    return Slice(found, None)
