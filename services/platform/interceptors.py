"""Server interceptors: request context, metrics, exception-to-status mapping, the caller's token.

Each interceptor is a scope (an async context manager) run around every RPC, whether its
response is unary or streamed, so one wrapping mechanism serves all four of them. Order
matters and ``default_scopes`` fixes it: context and metrics outermost (they see the final
status), then the mapping of exceptions to statuses, then authentication (whose errors the
mapping turns into UNAUTHENTICATED).

A server runs them as one gRPC interceptor (``ServerScopes``) that wraps each method's handler
once and keeps it: as four interceptors, each wrapping the handler anew on every RPC, they cost
more than half of what a no-op RPC costs (``benchmarks/edge.py``).
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import cassandra
import cassandra.cluster
import grpc
import neo4j.exceptions
import redis.exceptions
import structlog
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from services.platform import deadlines, malformed, metrics, tracing
from services.platform.auth import TokenVerifier, reset_caller, set_caller
from services.platform.errors import (
    RETRY_AFTER_HEADER,
    ChirpError,
    InvalidArgument,
    ResourceExhausted,
    Unauthenticated,
)

log = structlog.get_logger()

REQUEST_ID_HEADER = "x-request-id"
#: Statuses that say the server failed (OpenTelemetry's rule for gRPC server spans): the span is
#: an error; a refusal of the request (NOT_FOUND, INVALID_ARGUMENT, ...) is not.
SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
STATUS_DETAILS_KEY = "grpc-status-details-bin"
HEALTH_SERVICE = "grpc.health.v1.Health"


@dataclass(frozen=True)
class RpcInfo:
    """Which RPC is running: ``/chirp.users.v1.UsersService/GetUser`` split into its parts."""

    service: str
    method: str
    rpc_type: str

    @classmethod
    def of(cls, full_method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> RpcInfo:
        service, _, method = full_method.lstrip("/").rpartition("/")
        if handler.request_streaming and handler.response_streaming:
            rpc_type = "bidi_stream"
        elif handler.request_streaming:
            rpc_type = "client_stream"
        elif handler.response_streaming:
            rpc_type = "server_stream"
        else:
            rpc_type = "unary"
        return cls(service=service, method=method, rpc_type=rpc_type)

    @property
    def full_name(self) -> str:
        return f"{self.service}/{self.method}"


def final_code(
    context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None
) -> grpc.StatusCode:
    """The status an RPC ended with, as seen from a scope around it."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, ChirpError):
        return error.code
    return grpc.StatusCode.UNKNOWN


class ScopeInterceptor(abc.ABC):
    """Runs ``scope`` around every RPC, unary or streaming, once ``ServerScopes`` makes a gRPC
    interceptor of it (alone or with others)."""

    @abc.abstractmethod
    def scope(
        self, rpc: RpcInfo, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AbstractAsyncContextManager[None]: ...

    def prepare(self, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        """The handler to run ``scope`` around: ``handler`` itself unless overridden."""
        return handler


Scope = Callable[[RpcInfo, "grpc.aio.ServicerContext[Any, Any]"], AbstractAsyncContextManager[None]]


def _wrap(
    handler: grpc.RpcMethodHandler[Any, Any], rpc: RpcInfo, scope: Scope
) -> grpc.RpcMethodHandler[Any, Any]:
    # grpc's stubs type behaviours as synchronous; on an aio server they are coroutines and
    # async generators, so they are handled untyped here.
    codec: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary_unary: Any = handler.unary_unary

        async def wrapped_unary_unary(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            async with scope(rpc, context):
                return await unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(wrapped_unary_unary, **codec)
    if handler.unary_stream is not None:
        unary_stream: Any = handler.unary_stream

        async def wrapped_unary_stream(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            async with scope(rpc, context):
                async for response in unary_stream(request, context):
                    yield response

        return grpc.unary_stream_rpc_method_handler(wrapped_unary_stream, **codec)
    if handler.stream_unary is not None:
        stream_unary: Any = handler.stream_unary

        async def wrapped_stream_unary(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            async with scope(rpc, context):
                return await stream_unary(requests, context)

        return grpc.stream_unary_rpc_method_handler(wrapped_stream_unary, **codec)
    stream_stream: Any = handler.stream_stream

    async def wrapped_stream_stream(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async with scope(rpc, context):
            async for response in stream_stream(requests, context):
                yield response

    return grpc.stream_stream_rpc_method_handler(wrapped_stream_stream, **codec)


class RequestContextInterceptor(ScopeInterceptor):
    """Continues the caller's trace (a server span of it, or a new trace), binds the request
    id and the trace id to every log line, binds the caller's deadline for the calls made to
    other services, and writes one canonical log line per RPC."""

    @asynccontextmanager
    async def scope(
        self, rpc: RpcInfo, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[None]:
        metadata = dict(context.invocation_metadata() or ())
        # Read now: a stream the client left is closed by the event loop's async generator
        # finalizer after grpc has freed the call, and the peer read then is a NULL pointer
        # in cygrpc (a segfault of the whole process).
        peer = context.peer()
        started = time.perf_counter()
        error: BaseException | None = None
        attributes = {"rpc.system": "grpc", "rpc.service": rpc.service, "rpc.method": rpc.method}
        with (
            deadlines.serving(context.time_remaining()),
            tracing.server_span(
                rpc.full_name,
                metadata,
                metadata.get(REQUEST_ID_HEADER),
                attributes,
                rpc=rpc.full_name,
            ) as span,
        ):
            try:
                yield
            except BaseException as raised:
                error = raised
                raise
            finally:
                code = final_code(context, error)
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code in SERVER_FAULTS:
                    tracing.failed(span, error or RuntimeError(code.name))
                # Health checks come every few seconds from every prober: keep them out of
                # the default log level.
                emit = log.debug if rpc.service == HEALTH_SERVICE else log.info
                emit(
                    "rpc",
                    grpc_code=code.name,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    peer=peer,
                )


class MetricsInterceptor(ScopeInterceptor):
    """Counts and times every RPC by service, method, type and final status code."""

    @asynccontextmanager
    async def scope(
        self, rpc: RpcInfo, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[None]:
        labels = (rpc.rpc_type, rpc.service, rpc.method)
        metrics.STARTED.labels(*labels).inc()
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield
        except BaseException as raised:
            error = raised
            raise
        finally:
            metrics.HANDLED.labels(*labels, final_code(context, error).name).inc()
            metrics.HANDLING_SECONDS.labels(*labels).observe(time.perf_counter() - started)


#: Failures of a store that is down, unreachable or overloaded (e.g. a Redis connection pool
#: that is used up): a retry may succeed, so they are UNAVAILABLE (503 at the gateway), not
#: INTERNAL. Services raise ``Unavailable`` themselves where they can say more.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    cassandra.Unavailable,
    cassandra.CoordinationFailure,  # a replica failed the write or read (one that is booting)
    cassandra.OperationTimedOut,
    cassandra.Timeout,
    cassandra.cluster.NoHostAvailable,
    neo4j.exceptions.ServiceUnavailable,
    neo4j.exceptions.SessionExpired,
)


class ExceptionToStatusInterceptor(ScopeInterceptor):
    """Domain errors become their status with ``google.rpc`` details, a store or a called service
    that is down UNAVAILABLE, anything else INTERNAL.

    Unexpected errors are logged with their trace and answered with a generic message, so no
    stack trace or internal detail ever reaches a caller. Requests that do not parse are
    INVALID_ARGUMENT naming the field (``malformed.py``), raised inside this scope.
    """

    def prepare(self, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        return malformed.checking(handler)

    @asynccontextmanager
    async def scope(
        self, _rpc: RpcInfo, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[None]:
        try:
            yield
        except ChirpError as error:
            await _abort(context, error.code, str(error), _details_of(error), _headers_of(error))
        except grpc.aio.AbortError:
            raise
        except grpc.aio.AioRpcError as error:
            # A service this one called did not answer (a refusal it should pass on is mapped
            # to a domain error where the call is made).
            log.warning("a service this one needs failed", code=error.code().name, exc_info=True)
            await _abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"a service this one needs failed ({error.code().name}); retry shortly",
                [],
            )
        except TRANSIENT_ERRORS:
            log.warning("a store is unavailable or overloaded", exc_info=True)
            await _abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "a store this service needs is unavailable or overloaded; retry shortly",
                [],
            )
        except Exception:
            log.exception("unhandled error")
            await _abort(
                context,
                grpc.StatusCode.INTERNAL,
                f"internal error; the server logs have the details under request id "
                f"{structlog.contextvars.get_contextvars().get('request_id', '(none)')}",
                [],
            )


class AuthInterceptor(ScopeInterceptor):
    """Verifies a bearer token when one is sent; methods that need a caller ask ``require_caller``.

    A request without a token runs anonymously; a request with a bad token is refused at once,
    so a client never silently acts anonymously because its token expired.
    """

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    @asynccontextmanager
    async def scope(
        self, _rpc: RpcInfo, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[None]:
        metadata = dict(context.invocation_metadata() or ())
        header = metadata.get("authorization")
        caller = None
        if header is not None:
            scheme, _, token = str(header).partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the authorization header must be 'Bearer <access token>'")
            caller = self._verifier.verify(token.strip())
        reset_token = set_caller(caller)
        try:
            yield
        finally:
            reset_caller(reset_token)


class ServerScopes(grpc.aio.ServerInterceptor):
    """``scopes`` (outermost first) as one interceptor, each method's handler wrapped once."""

    def __init__(self, *scopes: ScopeInterceptor) -> None:
        self._scopes = scopes
        self._wrapped: dict[
            str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]
        ] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        kept = self._wrapped.get(method)
        if kept is not None and kept[0] is handler:
            return kept[1]
        rpc = RpcInfo.of(method, handler)
        wrapped = handler
        for scope in reversed(self._scopes):
            wrapped = _wrap(scope.prepare(wrapped), rpc, scope.scope)
        self._wrapped[method] = (handler, wrapped)
        return wrapped


def default_scopes(verifier: TokenVerifier) -> list[ScopeInterceptor]:
    return [
        RequestContextInterceptor(),
        MetricsInterceptor(),
        ExceptionToStatusInterceptor(),
        AuthInterceptor(verifier),
    ]


def default_interceptors(verifier: TokenVerifier) -> list[grpc.aio.ServerInterceptor]:
    return [ServerScopes(*default_scopes(verifier))]


def _details_of(error: ChirpError) -> list[any_pb2.Any]:
    detail = any_pb2.Any()
    if isinstance(error, InvalidArgument):
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=violation.field, description=violation.description
                    )
                    for violation in error.violations
                ]
            )
        )
        return [detail]
    if isinstance(error, ResourceExhausted):
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_seconds * 1e9))
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        return [detail]
    return []


def _headers_of(error: ChirpError) -> tuple[tuple[str, str], ...]:
    """Metadata the gateway passes on as HTTP headers: ``Retry-After`` for a rate limit."""
    if isinstance(error, ResourceExhausted):
        return ((RETRY_AFTER_HEADER, str(math.ceil(error.retry_after_seconds))),)
    return ()


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any],
    code: grpc.StatusCode,
    message: str,
    details: list[any_pb2.Any],
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    await context.abort(
        code,
        message,
        trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()), *headers),
    )
