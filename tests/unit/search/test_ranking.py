"""The ``top`` order: relevance blended with engagement and recency; and the order parameter."""

from __future__ import annotations

import pytest

from services.platform.errors import InvalidArgument
from services.search.model import Candidate
from services.search.service import parse_order, rank_top, top_score

HOUR_MS = 3_600_000
NOW = 1_800_000_000_000


def candidate(
    tweet_id: int, relevance: float = 1.0, age_hours: float = 0, **counts: int
) -> Candidate:
    return Candidate(
        tweet_id=tweet_id,
        relevance=relevance,
        created_ms=NOW - int(age_hours * HOUR_MS),
        likes=counts.get("likes", 0),
        retweets=counts.get("retweets", 0),
        replies=counts.get("replies", 0),
    )


def test_score_formula() -> None:
    fresh = candidate(1, relevance=2.0, likes=3, retweets=1, replies=1)  # engagement 6
    assert top_score(fresh, NOW) == pytest.approx(2.0 * (1 + 1.9459101))
    assert top_score(candidate(1, age_hours=24), NOW) == pytest.approx(0.5)
    assert top_score(candidate(1, age_hours=-1), NOW) == pytest.approx(1.0)  # clock skew


def test_engagement_and_recency_outrank_a_slightly_better_text_match() -> None:
    ranked = rank_top(
        [
            candidate(1, relevance=1.2, age_hours=48),
            candidate(2, relevance=1.0, likes=50),
            candidate(3, relevance=1.0),
            candidate(4, relevance=1.0),  # equal to 3: the newer id first
        ],
        NOW,
    )
    assert ranked == [2, 4, 3, 1]


def test_orders() -> None:
    assert parse_order("") == "latest"
    assert parse_order("TOP") == "top"
    assert parse_order(" Latest ") == "latest"
    with pytest.raises(InvalidArgument) as raised:
        parse_order("best")
    assert raised.value.violations[0].field == "order"
