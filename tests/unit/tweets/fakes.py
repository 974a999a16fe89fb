"""In-memory adapters of the tweets ports, for the domain's unit tests (each is held to the real
adapter's behaviour by its contract suite under tests/contracts/tweets)."""

from __future__ import annotations

from services.tweets.timeline import bucket_of

USER = 1


class MemoryTimeline:
    """One user's timeline."""

    def __init__(self, ids: list[int], empty_buckets: tuple[int, ...] = ()) -> None:
        self.rows = sorted(ids, reverse=True)
        self.index = sorted({bucket_of(i) for i in ids} | set(empty_buckets), reverse=True)
        self.bucket_reads = 0

    async def buckets(self, user_id: int, at_most: int | None, limit: int) -> list[int]:
        assert user_id == USER
        return [b for b in self.index if at_most is None or b <= at_most][:limit]

    async def ids(
        self, user_id: int, bucket: int, before: int | None, since: int, limit: int
    ) -> list[int]:
        assert user_id == USER
        self.bucket_reads += 1
        return [
            i
            for i in self.rows
            if bucket_of(i) == bucket and (before is None or i < before) and i >= since
        ][:limit]
