"""Page sizes and page tokens bound to their query."""

from __future__ import annotations

import pytest

from services.platform.errors import InvalidArgument
from services.search.paging import decode_token, encode_token, fingerprint


def test_tokens_round_trip_and_are_bound_to_their_query() -> None:
    bound = fingerprint("tweets", "chirp", "latest")
    token = encode_token(bound, 2**62 + 7)
    assert str(2**62 + 7) not in token
    assert decode_token(token, bound) == 2**62 + 7
    assert decode_token("", bound) is None
    for other in (fingerprint("tweets", "chirp", "top"), fingerprint("tweets", "chirps", "latest")):
        with pytest.raises(InvalidArgument) as raised:
            decode_token(token, other)
        assert raised.value.violations[0].field == "page_token"


@pytest.mark.parametrize("token", ["x!", "aGVsbG8", "%%%", encode_token("b", 2**63)])
def test_garbage_tokens_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidArgument):
        decode_token(token, "b")
