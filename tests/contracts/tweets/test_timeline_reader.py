"""``TimelineReader`` (the part of ``TweetStore`` a user timeline is read through): the in-memory
fake and the Cassandra store keep the same promises."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import pytest

from services.platform.ids import compose, timestamp_ms, wall_clock_ms
from services.platform.outbox import Outbox, new_event_id
from services.tweets.adapters.store import CassandraTweetStore
from services.tweets.model import Author, Tweet, TweetCreated, TweetDeleted, TweetView
from services.tweets.service import now_ms
from services.tweets.timeline import TimelineReader, bucket_of, first_id_of
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.tweets.fakes import USER, MemoryTimeline

DAY_MS = 86_400_000

#: A user's timeline holding ``ids``, and buckets emptied by deleting ``emptied``: the reader
#: and the user.
Timeline = Callable[[list[int], list[int]], Awaitable[tuple[TimelineReader, int]]]


def _memory(_: pytest.FixtureRequest) -> Timeline:
    async def timeline(ids: list[int], emptied: list[int]) -> tuple[TimelineReader, int]:
        return MemoryTimeline(ids, tuple(bucket_of(i) for i in emptied)), USER

    return timeline


def _cassandra(request: pytest.FixtureRequest) -> Timeline:
    session = request.getfixturevalue("session")
    store = CassandraTweetStore(session, Outbox(session))

    async def timeline(ids: list[int], emptied: list[int]) -> tuple[TimelineReader, int]:
        user = random_user_id()
        for tweet_id in [*ids, *emptied]:
            tweet = Tweet(tweet_id, user, "contract")
            await store.create(
                tweet, TweetCreated(new_event_id(), now_ms(), TweetView(tweet, Author(user)))
            )
            if tweet_id in emptied:
                await store.remove(tweet, TweetDeleted(new_event_id(), now_ms(), tweet_id, user, 0))
        return store, user

    return timeline


timeline = implementations(memory=unit(_memory), cassandra=integration(_cassandra))


def _id(at_ms: int) -> int:
    """A tweet id of that moment that no live tweet has (worker 1023, a random sequence)."""
    return compose(at_ms, 1023, random.randrange(4096))  # noqa: S311  (an id, not a secret)


def _days_ago(days: float) -> int:
    return _id(wall_clock_ms() - int(days * DAY_MS))


async def test_buckets_are_listed_newest_first_up_to_a_bucket(timeline: Timeline) -> None:
    ids = [_days_ago(days) for days in (200, 100, 40, 0)]
    reader, user = await timeline(ids, [])
    buckets = sorted({bucket_of(i) for i in ids}, reverse=True)
    assert await reader.buckets(user, None, 10) == buckets
    assert await reader.buckets(user, buckets[1], 10) == buckets[1:]
    assert await reader.buckets(user, None, 2) == buckets[:2]


async def test_a_bucket_emptied_by_deletes_is_still_listed(timeline: Timeline) -> None:
    kept, deleted = _days_ago(100), _days_ago(10)
    reader, user = await timeline([kept], [deleted])
    assert bucket_of(deleted) in await reader.buckets(user, None, 10)
    assert await reader.ids(user, bucket_of(deleted), None, 0, 10) == []
    assert await reader.ids(user, bucket_of(kept), None, 0, 10) == [kept]


async def test_ids_of_a_bucket_are_newest_first_between_since_and_before(
    timeline: Timeline,
) -> None:
    bucket = bucket_of(_days_ago(0))
    start = timestamp_ms(first_id_of(bucket))
    ids = sorted((_id(start + 1000 + offset) for offset in range(5)), reverse=True)
    reader, user = await timeline(ids, [])
    assert await reader.ids(user, bucket, None, 0, 10) == ids
    assert await reader.ids(user, bucket, None, 0, 2) == ids[:2]
    assert await reader.ids(user, bucket, ids[1], 0, 10) == ids[2:]
    assert await reader.ids(user, bucket, None, ids[3], 10) == ids[:4]
    assert await reader.ids(user, bucket, ids[0], ids[3], 10) == ids[1:4]
    assert await reader.ids(user, bucket - 1, None, 0, 10) == []
