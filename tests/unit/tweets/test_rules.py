"""Edit limits, update masks, media and idempotency-key rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.platform.errors import FailedPrecondition, InvalidArgument
from services.platform.ids import compose, wall_clock_ms
from services.tweets.model import Tweet
from services.tweets.rules import (
    EDIT_WINDOW,
    MAX_EDITS,
    check_editable,
    check_update_mask,
    idempotency_key_violations,
    media_violations,
)


def _tweet(age: timedelta) -> Tweet:
    posted_ms = wall_clock_ms() - int(age.total_seconds() * 1000)
    return Tweet(id=compose(posted_ms, 1, 0), author_id=1, text="hi")


def test_edits_are_allowed_within_an_hour_and_five_times() -> None:
    assert timedelta(hours=1) == EDIT_WINDOW
    assert MAX_EDITS == 5
    tweet = _tweet(timedelta(minutes=59))
    check_editable(tweet, MAX_EDITS - 1, tweet.create_time + timedelta(minutes=59))


def test_an_edit_after_the_window_is_a_failed_precondition() -> None:
    tweet = _tweet(timedelta(hours=2))
    with pytest.raises(FailedPrecondition, match="within 60 minutes"):
        check_editable(tweet, 0, tweet.create_time + EDIT_WINDOW + timedelta(seconds=1))


def test_a_sixth_edit_is_a_failed_precondition() -> None:
    tweet = _tweet(timedelta(minutes=1))
    with pytest.raises(FailedPrecondition, match="at most 5 times"):
        check_editable(tweet, MAX_EDITS, tweet.create_time)


def test_only_the_text_can_be_updated() -> None:
    check_update_mask([])
    check_update_mask(["text"])
    with pytest.raises(InvalidArgument) as refused:
        check_update_mask(["text", "reply_to_id"])
    assert refused.value.violations[0].field == "update_mask"


def test_media_and_idempotency_key_limits() -> None:
    assert media_violations([1, 2, 3, 4]) == []
    assert [v.field for v in media_violations([1, 2, 3, 4, 5])] == ["media_ids"]
    assert idempotency_key_violations("a" * 64) == []
    assert [v.field for v in idempotency_key_violations("a" * 65)] == ["idempotency_key"]
    assert [v.field for v in idempotency_key_violations("a\tb")] == ["idempotency_key"]
