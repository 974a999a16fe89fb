"""AIP-158 page sizes and opaque page tokens."""

from __future__ import annotations

import pytest

from services.platform.errors import InvalidArgument
from services.platform.paging import encode_token
from services.tweets.paging import int_cursor, str_cursor


def test_tokens_round_trip_and_are_opaque() -> None:
    token = encode_token("user_tweets", 42, 123456789)
    assert "123456789" not in token
    assert int_cursor(token, "user_tweets", 42) == 123456789
    assert int_cursor("", "user_tweets", 42) is None
    like = "6b2c5f3e-0000-1000-8000-000000000000"
    assert str_cursor(encode_token("likers", 1, like), "likers", 1) == like


@pytest.mark.parametrize(
    ("token", "kind", "scope"),
    [
        ("not a token!", "user_tweets", 42),
        (encode_token("user_tweets", 43, 1), "user_tweets", 42),  # another user's timeline
        (encode_token("replies", 42, 1), "user_tweets", 42),  # another list
        (encode_token("user_tweets", 42, "x"), "user_tweets", 42),  # wrong cursor type
    ],
    ids=["garbage", "other-scope", "other-kind", "wrong-type"],
)
def test_foreign_or_forged_tokens_are_invalid_arguments(token: str, kind: str, scope: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        int_cursor(token, kind, scope)
    assert refused.value.violations[0].field == "page_token"
