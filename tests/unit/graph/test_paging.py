"""Page sizes and page tokens of the graph's lists."""

from __future__ import annotations

import base64

import pytest

from services.graph.paging import decode_token
from services.platform.errors import InvalidArgument
from services.platform.paging import encode_token


def test_a_token_carries_its_cursor() -> None:
    token = encode_token("followers", 42, [1_700_000_000_000, 7])
    assert "=" not in token
    assert decode_token(token, "followers", 42, 2) == [1_700_000_000_000, 7]
    assert decode_token("", "followers", 42, 2) is None


@pytest.mark.parametrize(
    ("kind", "scope"), [("following", 42), ("followers", 43)], ids=["other list", "other user"]
)
def test_a_token_of_another_list_is_refused(kind: str, scope: int) -> None:
    token = encode_token("followers", 42, [1, 2])
    with pytest.raises(InvalidArgument, match="belongs to another list"):
        decode_token(token, kind, scope, 2)


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"[]").decode(),
        encode_token("followers", 42, [1]),
        base64.urlsafe_b64encode(b'{"k":"followers","s":42,"c":[true,1]}').decode(),
        base64.urlsafe_b64encode(b'{"k":"followers","s":42,"c":["1","2"]}').decode(),
    ],
)
def test_a_token_this_service_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token"):
        decode_token(token, "followers", 42, 2)
