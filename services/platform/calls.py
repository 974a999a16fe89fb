"""Calling another Chirp service: one mapping of what the callee answers into domain errors.

A refusal (the callee judged the request: not found, not allowed, not in that state, already
there, a field that breaks a rule, wrong credentials, over a limit, with the time left) becomes
the same domain error in the caller, so whoever
called the caller gets the callee's status and message. Anything else (the callee down, timed
out, overloaded, failing, or an address that reaches the wrong service and answers
UNIMPLEMENTED) is ``Unavailable`` naming the callee: never "nothing found".
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import grpc

from services.platform.errors import (
    RETRY_AFTER_HEADER,
    AlreadyExists,
    ChirpError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

_R = TypeVar("_R")

_REFUSALS: dict[grpc.StatusCode, type[ChirpError]] = {
    refusal.code: refusal
    for refusal in (NotFound, PermissionDenied, FailedPrecondition, AlreadyExists, Unauthenticated)
}


async def answer(callee: str, call: Awaitable[_R]) -> _R:
    """The response of ``call``, an RPC to the ``callee`` service, or its failure as a domain
    error."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        raise callee_error(callee, error) from error


def callee_error(callee: str, error: grpc.aio.AioRpcError) -> ChirpError:
    code, details = error.code(), error.details() or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(*_violations(details))
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResourceExhausted(details, _retry_after(error))
    if (refusal := _REFUSALS.get(code)) is not None:
        return refusal(details)
    return Unavailable(f"the {callee} service cannot answer ({code.name}); retry")


def _violations(details: str) -> list[FieldViolation]:
    """``InvalidArgument``'s own message (``field: rule; field: rule``) read back."""
    violations = []
    for part in details.split("; "):
        field, separator, description = part.partition(": ")
        violations.append(
            FieldViolation(field, description) if separator else FieldViolation("request", part)
        )
    return violations


def _retry_after(error: grpc.aio.AioRpcError) -> float:
    """The seconds the callee said to wait (its ``retry-after`` trailer); a minute if none."""
    for key, value in error.trailing_metadata() or ():
        if key == RETRY_AFTER_HEADER and isinstance(value, str) and value.isdigit():
            return float(value)
    return 60.0
