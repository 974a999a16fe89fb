"""Trend rules: which terms a tweet counts for, the score against the baseline, the peak."""

from __future__ import annotations

import pytest
from chirp.search.v1 import trend_pb2

from services.search.trends import Peak, TermCounts, Trend, TrendParams, rank, score, terms

PARAMS = TrendParams(
    bucket_seconds=60, window_buckets=5, baseline_buckets=60, min_authors=5, min_score=1.0,
    peak_half_life_seconds=600,
)  # fmt: skip


def test_terms_are_tags_words_and_adjacent_word_pairs_without_stop_words() -> None:
    found = terms(
        "The Solar Eclipse is visible tonight! See https://x.com/e @ada #Eclipse2026 2026",
        ["Eclipse2026"],
    )
    assert found == [
        "#eclipse2026",
        "solar",
        "solar eclipse",
        "eclipse",
        "visible",
        "visible tonight",
        "tonight",
        "see",
    ]


def test_a_tweet_counts_each_term_once() -> None:
    assert terms("rain rain rain", []) == ["rain", "rain rain"]


def counts(authors: int, baseline_per_bucket: float = 0, tweets: int = 0) -> TermCounts:
    baseline = int(baseline_per_bucket * PARAMS.baseline_buckets)
    return TermCounts("#t", authors, tweets or authors, baseline)


def test_score_is_chi_square_like_against_the_terms_own_baseline() -> None:
    # 2 authors a minute for the last hour: 10 expected in a 5-minute window.
    assert score(counts(30, baseline_per_bucket=2), PARAMS) == pytest.approx((30 - 10) ** 2 / 10)
    # A new term: the expectation is the floor (1), not 0.
    assert score(counts(8), PARAMS) == pytest.approx(49.0)


@pytest.mark.parametrize(
    "term_counts",
    [
        counts(4),  # below the minimum of distinct authors however new
        counts(1, tweets=30),  # one account repeating itself
        counts(10, baseline_per_bucket=2),  # steady chatter: observed == expected
        counts(8, baseline_per_bucket=3),  # below its baseline
    ],
)
def test_what_does_not_trend(term_counts: TermCounts) -> None:
    assert score(term_counts, PARAMS) == 0.0


def test_a_peak_decays_instead_of_vanishing_and_is_dropped_once_small() -> None:
    trends, peaks = rank([counts(8)], {}, now=1000.0, params=PARAMS)
    assert [t.score for t in trends] == [pytest.approx(49.0)]
    assert peaks == {"#t": Peak(49.0, 1000.0)}
    # Ten minutes later two authors still use it: half the peak is shown.
    later, kept = rank([counts(2)], peaks, now=1600.0, params=PARAMS)
    assert [t.score for t in later] == [pytest.approx(24.5)]
    assert kept == peaks
    # Once nobody in the window uses it, it is not shown, but its peak is kept.
    unused, kept = rank([counts(0)], peaks, now=1600.0, params=PARAMS)
    assert unused == []
    assert kept == peaks
    # A new, higher score replaces the peak.
    higher, kept = rank([counts(20)], peaks, now=1600.0, params=PARAMS)
    assert kept["#t"] == Peak(361.0, 1600.0)
    assert higher[0].score == pytest.approx(361.0)
    # Long after, it is below the minimum score and forgotten.
    gone, kept = rank([counts(0)], peaks, now=1000.0 + 600 * 7, params=PARAMS)
    assert gone == []
    assert kept == {}


def test_trends_are_ordered_by_score_and_render_as_messages() -> None:
    trends, _ = rank(
        [
            TermCounts("solar eclipse", 9, 12, 0),
            TermCounts("#eclipse", 20, 25, 0),
            TermCounts("quiet", 2, 2, 0),
        ],
        {},
        now=0.0,
        params=PARAMS,
    )
    assert [t.term for t in trends] == ["#eclipse", "solar eclipse"]
    assert trends[0].message() == trend_pb2.Trend(
        name="#eclipse", kind=trend_pb2.TREND_KIND_HASHTAG, query="#eclipse",
        tweet_count=25, author_count=20, score=361.0,
    )  # fmt: skip
    topic = Trend("solar eclipse", 12, 9, 64.0).message()
    assert topic.kind == trend_pb2.TREND_KIND_TOPIC
    assert topic.query == '"solar eclipse"'
