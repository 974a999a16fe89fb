"""The rules of tweet requests other than text: edits, media, idempotency keys, batch sizes.

Edits: the author may edit a tweet or reply (never a retweet) up to ``MAX_EDITS`` times within
``EDIT_WINDOW`` of posting it, as Twitter allows; past either limit an edit is
FAILED_PRECONDITION. Each edit keeps the replaced text as a version. An edit that repeats the
current text changes nothing and uses up no edit, so a retried edit is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.platform.errors import FailedPrecondition, FieldViolation, InvalidArgument
from services.tweets.model import Tweet

EDIT_WINDOW = timedelta(hours=1)
MAX_EDITS = 5
MAX_MEDIA = 4
MAX_IDEMPOTENCY_KEY = 64
MAX_BATCH_TWEETS = 100
MAX_BATCH_USERS = 100
MAX_RECENT_AUTHORS = 5000
MAX_RECENT_RESULTS = 800
DEFAULT_STREAM_BATCH = 500
MAX_STREAM_BATCH = 1000


def check_editable(tweet: Tweet, earlier_versions: int, now: datetime) -> None:
    """Within the edit window and under the edit limit (retweets are refused before this)."""
    if now - tweet.create_time > EDIT_WINDOW:
        raise FailedPrecondition(
            f"a tweet can be edited only within {EDIT_WINDOW.seconds // 60} minutes of posting"
        )
    if earlier_versions >= MAX_EDITS:
        raise FailedPrecondition(f"a tweet can be edited at most {MAX_EDITS} times")


def check_update_mask(paths: Sequence[str]) -> None:
    """Only the text can change; an empty mask means the text."""
    others = [path for path in paths if path != "text"]
    if others:
        raise InvalidArgument.field(
            "update_mask", f"only 'text' can be updated, not {', '.join(others)}"
        )


def media_violations(media_ids: Sequence[int]) -> list[FieldViolation]:
    if len(media_ids) > MAX_MEDIA:
        return [FieldViolation("media_ids", f"at most {MAX_MEDIA} photos per tweet")]
    return []


def idempotency_key_violations(key: str) -> list[FieldViolation]:
    if len(key) > MAX_IDEMPOTENCY_KEY:
        return [
            FieldViolation("idempotency_key", f"must be at most {MAX_IDEMPOTENCY_KEY} characters")
        ]
    if not key.isprintable():
        return [FieldViolation("idempotency_key", "must be printable characters only")]
    return []


def check_batch(ids: Sequence[int], most: int, field: str) -> None:
    if len(ids) > most:
        raise InvalidArgument.field(field, f"at most {most} per request")
