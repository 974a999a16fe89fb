"""Channels from one service to another: every process of the callee, calls spread over them.

A callee's address (``CHIRP_<SERVICE>_ADDR``) is one ``host:port``, several comma-separated
(``127.0.0.1:50052,127.0.0.1:50152``: the local cluster shape's processes), or any gRPC target
(``dns:///tweets:50052`` in compose, where the name resolves to every replica). Calls go round
robin over the processes that are up: a process that dies leaves the rotation as its connection
fails, and comes back when it answers again, so a caller rides out a killed callee without a
proxy in between.

Every unary call made on such a channel has a deadline: the channel's limit, or less when the
call being served must be answered sooner (``deadlines.py``). Streams have none: they last as
long as their reader wants them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
import structlog
from opentelemetry.trace import SpanKind

from services.platform import deadlines, mtls, tracing
from services.platform.interceptors import REQUEST_ID_HEADER
from services.platform.settings import MutualTlsSettings

#: gRPC's service config: round robin over every resolved address (its default, pick_first,
#: sends everything to the first one that answers).
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def target(address: str) -> str:
    """``address`` as a gRPC target: a comma-separated list of ``host:port`` becomes an
    ``ipv4:`` target of all of them; anything else is taken as it is."""
    addresses = [part.strip() for part in address.split(",") if part.strip()]
    if len(addresses) > 1:
        return "ipv4:" + ",".join(addresses)
    return addresses[0] if addresses else address


class CallerContext(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Carries the caller's trace (``traceparent``) and request id to the callee, each unary
    call a client span of the trace when it is recorded and bounded in time: ``timeout``
    where the call names none, never past the deadline of the call being served."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        asked = client_call_details.timeout
        details = client_call_details._replace(
            timeout=deadlines.budget(self._timeout if asked is None else asked)
        )
        if not tracing.recording():  # the trace still goes on, unsampled, to the callee
            return await continuation(_carrying(details), request)
        method = _method(client_call_details)
        with tracing.TRACER.start_as_current_span(
            method,
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.method": method},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            call = await continuation(_carrying(details), request)
            try:
                await call  # the span lasts until the answer is in
            except grpc.aio.AioRpcError as error:
                span.set_attribute("rpc.grpc.status_code", error.code().value[0])
                tracing.failed(span, error)
            return call

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_carrying(client_call_details), request)


def _method(details: Any) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else str(method)


def _carrying(details: Any) -> Any:
    """``details`` with the trace and the request id added to its metadata."""
    headers: dict[str, str] = {}
    tracing.inject(headers)
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    if not headers:
        return details
    metadata = grpc.aio.Metadata(*(details.metadata or ()), *headers.items())
    return details._replace(metadata=metadata)


def service_channel(
    address: str,
    *,
    timeout: float = deadlines.DEFAULT_SECONDS,
    tls: MutualTlsSettings | None = None,
    max_receive_bytes: int | None = None,
) -> grpc.aio.Channel:
    """A channel to every process at ``address`` (see the module docstring) that carries each
    call's trace and request id and gives each unary call at most ``timeout`` seconds
    (``CallerContext``); over mutual TLS when ``tls`` is on, else in plain text. An answer may
    be ``max_receive_bytes`` long (gRPC's 4 MiB by default)."""
    options: list[tuple[str, Any]] = [("grpc.service_config", ROUND_ROBIN)]
    if max_receive_bytes is not None:
        options.append(("grpc.max_receive_message_length", max_receive_bytes))
    interceptors = [CallerContext(timeout)]
    if tls is not None and tls.enabled:
        return grpc.aio.secure_channel(
            target(address),
            mtls.channel_credentials(tls),
            options=[*options, *mtls.channel_options(tls)],
            interceptors=interceptors,
        )
    return grpc.aio.insecure_channel(target(address), options=options, interceptors=interceptors)
