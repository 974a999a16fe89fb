"""Page sizes and tokens of the home timeline."""

from __future__ import annotations

import pytest

from services.platform.errors import InvalidArgument
from services.timelines.paging import decode_token, encode_token


@pytest.mark.parametrize("before", [1, 2**53 + 1, 2**63 - 1])
def test_tokens_round_trip_exactly(before: int) -> None:
    token = encode_token(before)
    assert str(before) not in token  # opaque
    assert decode_token(token) == before


@pytest.mark.parametrize("token", ["x!", "aGVsbG8", encode_token(5)[:-1] + "!", "aG9tZTow"])
def test_bad_tokens_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidArgument):
        decode_token(token)


def test_no_token_is_the_newest_page() -> None:
    assert decode_token("") is None
