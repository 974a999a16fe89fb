"""AIP-158 page sizes and opaque page tokens, shared by every list of every service."""

from __future__ import annotations

import base64

import pytest

from services.platform.errors import InvalidArgument
from services.platform.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    bounded,
    decode_int,
    decode_ints,
    decode_str,
    encode_token,
    page_size,
)
from services.search.query import fingerprint


def test_page_size_defaults_caps_and_refuses_negative() -> None:
    assert page_size(0) == DEFAULT_PAGE_SIZE == 20
    assert page_size(7) == 7
    assert page_size(10_000) == MAX_PAGE_SIZE == 100
    with pytest.raises(InvalidArgument) as refused:
        page_size(-1)
    assert refused.value.violations[0].field == "page_size"


def test_other_bounds_name_their_own_field() -> None:
    assert bounded(0, 1000, 10_000, "batch_size") == 1000
    assert bounded(20_000, 1000, 10_000, "batch_size") == 10_000
    with pytest.raises(InvalidArgument, match="batch_size: must not be negative"):
        bounded(-5, 1000, 10_000, "batch_size")


@pytest.mark.parametrize("cursor", [123_456_789, 2**53 + 1, 2**63 - 1])
def test_an_id_round_trips_exactly_and_is_opaque(cursor: int) -> None:
    token = encode_token("user_tweets", 42, cursor)
    assert "=" not in token
    assert str(cursor) not in token
    assert decode_int(token, "user_tweets", 42) == cursor


def test_no_token_is_the_first_page() -> None:
    assert decode_int("", "home", 0) is None
    assert decode_str("", "likers", 1) is None
    assert decode_ints("", "followers", 42, 2) is None


def test_strings_and_compound_positions_round_trip() -> None:
    like = "6b2c5f3e-0000-1000-8000-000000000000"
    assert decode_str(encode_token("likers", 1, like), "likers", 1) == like
    position = [1_700_000_000_000, 7]
    assert decode_ints(encode_token("followers", 42, position), "followers", 42, 2) == position


def test_a_search_token_is_bound_to_its_query() -> None:
    bound = fingerprint("tweets", "chirp", "latest")
    token = encode_token(bound, 0, 2**62 + 7)
    assert decode_int(token, bound, 0) == 2**62 + 7
    for other in (fingerprint("tweets", "chirp", "top"), fingerprint("tweets", "chirps", "latest")):
        with pytest.raises(InvalidArgument, match="page_token: belongs to another list"):
            decode_int(token, other, 0)


@pytest.mark.parametrize(
    ("kind", "scope"), [("replies", 42), ("user_tweets", 43)], ids=["other list", "other user"]
)
def test_a_token_of_another_list_is_refused(kind: str, scope: int) -> None:
    token = encode_token("user_tweets", 42, 1)
    with pytest.raises(InvalidArgument, match="page_token: belongs to another list"):
        decode_int(token, kind, scope)


def _forged(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        "%%%",
        "aGVsbG8",
        _forged(b"[]"),
        encode_token("user_tweets", 42, 1)[:-1] + "!",
        encode_token("user_tweets", 42, "x"),  # a string where an id is due
        encode_token("user_tweets", 42, 2**63),  # beyond 64 bits
        encode_token("user_tweets", 42, -1),
        _forged(b'{"k":"user_tweets","s":42,"c":true}'),  # JSON true is not 1
    ],
)
def test_an_id_token_this_service_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token: is not a page token"):
        decode_int(token, "user_tweets", 42)


@pytest.mark.parametrize(
    "token",
    [
        encode_token("followers", 42, [1]),
        encode_token("followers", 42, 1),
        _forged(b'{"k":"followers","s":42,"c":[true,1]}'),
        _forged(b'{"k":"followers","s":42,"c":["1","2"]}'),
    ],
)
def test_a_compound_token_of_another_shape_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token: is not a page token"):
        decode_ints(token, "followers", 42, 2)


def test_a_string_token_refuses_an_id() -> None:
    with pytest.raises(InvalidArgument, match="page_token: is not a page token"):
        decode_str(encode_token("likers", 1, 5), "likers", 1)
