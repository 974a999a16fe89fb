"""Trends over the real Redis (keys under a prefix of their own, deleted afterwards), with a
controlled clock: many authors trend, one account repeating itself and steady chatter do not,
redeliveries change nothing, and a trend fades out by its decaying peak."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from services.platform.resp import RespClient
from services.search.adapters.trend_store import DISTINCT_CHUNK, RedisTrendStore
from services.search.trends import TrendParams, TrendService

PARAMS = TrendParams(
    bucket_seconds=60, window_buckets=5, baseline_buckets=30, min_authors=5, min_score=1.0,
    peak_half_life_seconds=300,
)  # fmt: skip
START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefix() -> str:
    return f"test:trends:{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def store(redis: Redis, resp: RespClient, prefix: str) -> AsyncIterator[RedisTrendStore]:
    yield RedisTrendStore(resp, PARAMS, prefix=prefix)
    keys = [key async for key in redis.scan_iter(match=f"{{{prefix}}}:*", count=1000)]
    if keys:
        await redis.delete(*keys)


class Tweets:
    """Tweets with fresh ids, at the clock's time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._next = 1

    def __call__(
        self, author: int, text: str, tags: list[str] | None = None
    ) -> tuple[int, int, float, str, list[str]]:
        self._next += 1
        return (self._next, author, self._clock.now, text, tags or [])


async def test_many_authors_trend_one_noisy_account_and_steady_chatter_do_not(
    store: RedisTrendStore,
) -> None:
    clock = Clock()
    trends = TrendService(store, PARAMS, clock)
    make = Tweets(clock)
    # An hour of steady chatter: 3 accounts a minute say #weather (expected 15 per window).
    for minute in range(40):
        clock.now = START + minute * 60
        await trends.record(
            [make(1000 + minute * 3 + i, "#weather today", ["weather"]) for i in range(3)]
        )
    clock.now = START + 40 * 60
    # Now: 12 accounts post #eclipse, one account posts #spam 30 times, chatter goes on.
    await trends.record([make(author, "look up #eclipse", ["Eclipse"]) for author in range(12)])
    await trends.record([make(99, f"buy now #spam {i}", ["spam"]) for i in range(30)])
    await trends.record([make(5000 + i, "#weather today", ["weather"]) for i in range(3)])

    shown = await trends.recompute()
    names = [t.term for t in shown]
    assert "#eclipse" in names
    assert "#spam" not in names
    assert "#weather" not in names
    eclipse = next(t for t in shown if t.term == "#eclipse")
    assert (eclipse.authors, eclipse.tweets) == (12, 12)
    assert eclipse.score == pytest.approx((12 - 1) ** 2 / 1)
    assert "look" in names  # the words come along as topics ("up" is a stop word)
    assert [t.term for t in (await trends.page(20, ""))[0]] == names  # published


async def test_redelivered_tweets_count_once(store: RedisTrendStore) -> None:
    clock = Clock()
    trends = TrendService(store, PARAMS, clock)
    make = Tweets(clock)
    batch = [make(author, "#replay", ["replay"]) for author in range(6)]
    await trends.record(batch)
    await trends.record(batch)  # redelivered
    await trends.record(batch[:3])
    (replay,) = [t for t in await trends.recompute() if t.term == "#replay"]
    assert (replay.authors, replay.tweets) == (6, 6)


async def test_a_trend_fades_with_its_peak_and_then_goes(store: RedisTrendStore) -> None:
    clock = Clock()
    trends = TrendService(store, PARAMS, clock)
    make = Tweets(clock)
    await trends.record([make(author, "#flash", ["flash"]) for author in range(8)])
    (first,) = [t for t in await trends.recompute() if t.term == "#flash"]
    assert first.score == pytest.approx(49.0)
    clock.now += 10 * 60  # out of the window; the peak has halved twice
    await trends.record([make(author, "#flash", ["flash"]) for author in (100, 101)])
    (faded,) = [t for t in await trends.recompute() if t.term == "#flash"]
    assert faded.score == pytest.approx(49.0 / 4)
    assert faded.authors == 2  # two still use it
    clock.now += 30 * 60  # nobody uses it any more
    assert [t for t in await trends.recompute() if t.term == "#flash"] == []


async def test_pages_of_trends(store: RedisTrendStore) -> None:
    clock = Clock()
    trends = TrendService(store, PARAMS, clock)
    make = Tweets(clock)
    await trends.record(
        [make(author, f"#t{tag}", [f"t{tag}"]) for tag in range(3) for author in range(6)]
    )
    await trends.recompute()
    first, token = await trends.page(2, "")
    second, last = await trends.page(2, token)
    assert len(first) == 2
    assert [t.term for t in first + second] == ["#t0", "#t1", "#t2"]
    assert last == ""


async def test_baseline_sums_are_the_buckets_sums_kept_for_a_bucket(
    store: RedisTrendStore, redis: Redis, prefix: str
) -> None:
    bucket = PARAMS.bucket(START)
    baseline = range(bucket, bucket + 3)
    # Three buckets: 3 authors of #a; 4 of #a and #b; none.
    for offset, (authors, terms) in enumerate(((3, ["#a"]), (4, ["#a", "#b"]), (0, []))):
        await store.record([(offset * 100 + a, a, bucket + offset, terms) for a in range(authors)])

    assert await store.author_sums(baseline, ["#a", "#b", "#none"]) == [7, 4, 0]
    kept = await redis.ttl(f"{{{prefix}}}:baseline:{bucket}:{bucket + 2}")
    assert 0 < kept <= PARAMS.bucket_seconds
    # A tweet counted late into the baseline shows once the baseline moves on.
    await store.record([(999, 50, bucket + 1, ["#a"])])
    assert await store.author_sums(baseline, ["#a"]) == [7]
    assert await store.author_sums(range(bucket + 1, bucket + 3), ["#a"]) == [5]


async def test_distinct_authors_of_more_terms_than_one_script_counts(
    store: RedisTrendStore,
) -> None:
    bucket = PARAMS.bucket(START)
    terms = [f"#t{i}" for i in range(DISTINCT_CHUNK * 2 + 50)]
    # Term i: authors 0..i%7 in the first bucket and the same again, plus author 100, in the next.
    tweets = [
        (next_id, author, bucket + later, [term])
        for next_id, (author, later, term) in enumerate(
            (author, later, term)
            for i, term in enumerate(terms)
            for later in (0, 1)
            for author in [*range(i % 7 + 1), *([100] if later else [])]
        )
    ]
    await store.record(tweets)

    counted = await store.distinct_authors(range(bucket, bucket + 2), terms)

    assert counted == [i % 7 + 2 for i in range(len(terms))]
