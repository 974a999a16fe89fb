"""Domain errors. Handlers raise these; ``ExceptionToStatusInterceptor`` turns them into statuses.

Domain code never builds gRPC statuses itself, so the same rule gives the same status (and the
same HTTP code through the gateway) in every service.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc


class ChirpError(Exception):
    """An error the caller can act on; its message is shown to the caller."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN


@dataclass(frozen=True)
class FieldViolation:
    """One broken rule on one request field, as in ``google.rpc.BadRequest``."""

    field: str
    description: str


class InvalidArgument(ChirpError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, *violations: FieldViolation) -> None:
        if not violations:
            raise ValueError("InvalidArgument needs at least one field violation")
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls(FieldViolation(field, description))


class Unauthenticated(ChirpError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ChirpError):
    code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(ChirpError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ChirpError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(ChirpError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(ChirpError):
    """A concurrent operation is in the way (e.g. a rebuild already running); retry later."""

    code = grpc.StatusCode.ABORTED


#: The trailer that carries ``ResourceExhausted``'s wait in whole seconds: with nothing sent
#: before it, the status travels as a trailers-only response, which the gateway answers as HTTP
#: headers (``Retry-After``).
RETRY_AFTER_HEADER = "retry-after"


class ResourceExhausted(ChirpError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)


class Unavailable(ChirpError):
    """A dependency is down; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE
