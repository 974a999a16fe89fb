"""What another service answers, as the caller's domain errors (``services/platform/calls.py``)."""

from __future__ import annotations

import grpc
import pytest

from services.platform.calls import answer
from services.platform.errors import (
    AlreadyExists,
    ChirpError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)


async def _failing(
    code: grpc.StatusCode, details: str, trailers: grpc.aio.Metadata | None = None
) -> None:
    empty = grpc.aio.Metadata()
    raise grpc.aio.AioRpcError(code, empty, trailers or empty, details)


@pytest.mark.parametrize(
    ("code", "raised"),
    [
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDenied),
        (grpc.StatusCode.FAILED_PRECONDITION, FailedPrecondition),
        (grpc.StatusCode.ALREADY_EXISTS, AlreadyExists),
        (grpc.StatusCode.UNAUTHENTICATED, Unauthenticated),
    ],
)
async def test_a_refusal_is_the_same_error_with_the_callee_message(
    code: grpc.StatusCode, raised: type[ChirpError]
) -> None:
    with pytest.raises(raised, match=r"^media 7 is not yours$"):
        await answer("media", _failing(code, "media 7 is not yours"))


async def test_invalid_argument_keeps_each_field_and_rule() -> None:
    details = "media_ids: must not repeat an id; tweet_id: must be a tweet id"
    with pytest.raises(InvalidArgument) as raised:
        await answer("media", _failing(grpc.StatusCode.INVALID_ARGUMENT, details))
    assert [(v.field, v.description) for v in raised.value.violations] == [
        ("media_ids", "must not repeat an id"),
        ("tweet_id", "must be a tweet id"),
    ]
    assert str(raised.value) == details


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNIMPLEMENTED,
    ],
)
async def test_anything_else_is_unavailable_naming_the_callee(code: grpc.StatusCode) -> None:
    with pytest.raises(Unavailable, match=f"^the users service cannot answer \\({code.name}\\)"):
        await answer("users", _failing(code, "secret internal detail"))


async def test_an_answer_passes_through() -> None:
    async def ok() -> int:
        return 7

    assert await answer("users", ok()) == 7


async def test_a_limit_is_passed_on_with_the_time_left() -> None:
    over = _failing(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "at most 10 log-in attempts per 300 s",
        grpc.aio.Metadata(("retry-after", "42")),
    )
    with pytest.raises(ResourceExhausted, match="log-in attempts") as raised:
        await answer("users", over)
    assert raised.value.retry_after_seconds == 42
