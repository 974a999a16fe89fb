"""Traces through the shared interceptors and channels, on a real in-process grpc.aio server:
a call continues its caller's W3C trace, the handler's logs carry the trace and request ids,
a service's calls to another carry both on, and server faults (not refusals) fail the span;
an HTTP service's middleware does the same for its requests.
Spans are collected in memory (OpenTelemetry's own exporter for tests)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.platform import tracing
from services.platform.auth import TokenVerifier
from services.platform.channels import service_channel
from services.platform.errors import NotFound
from services.platform.http import request_context
from services.platform.interceptors import REQUEST_ID_HEADER, default_interceptors

SERVICE = "chirp.test.v1.TraceService"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def recorded() -> None:
    """Spans of this process kept in ``EXPORTER`` (the global provider can be set only once:
    whichever test module sets one first, this one adds its exporter to it)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture(autouse=True)
def fresh() -> None:
    EXPORTER.clear()


def _identity(payload: bytes) -> bytes:
    return payload


async def _seen(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    """What the handler sees: its trace id and the ids bound to its log lines."""
    bound = structlog.contextvars.get_contextvars()
    return json.dumps(
        {
            "trace": tracing.trace_id(),
            "log_trace": bound.get("trace_id"),
            "request": bound.get("request_id"),
        }
    ).encode()


async def _crash(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    raise RuntimeError("boom")


async def _missing(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    raise NotFound("tweet 7 not found")


@pytest.fixture(scope="module")
async def address() -> AsyncIterator[str]:
    server = grpc.aio.server(
        interceptors=default_interceptors(
            TokenVerifier(Ed25519PrivateKey.generate().public_key(), "chirp")
        )
    )
    codec = {"request_deserializer": _identity, "response_serializer": _identity}
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(handler, **codec)
        for name, handler in {"Seen": _seen, "Crash": _crash, "Missing": _missing}.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


def _call(channel: grpc.aio.Channel, method: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=_identity, response_deserializer=_identity
    )


def _spans(kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in EXPORTER.get_finished_spans() if span.kind == kind]


async def test_a_call_continues_its_callers_trace(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        seen = json.loads(
            await _call(channel, "Seen")(
                b"", metadata=(("traceparent", TRACEPARENT), (REQUEST_ID_HEADER, "req-1"))
            )
        )
    assert seen == {"trace": TRACE_ID, "log_trace": TRACE_ID, "request": "req-1"}
    (server,) = _spans(SpanKind.SERVER)
    assert server.name == f"{SERVICE}/Seen"
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == PARENT_SPAN_ID
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == 0


async def test_a_call_without_a_trace_starts_one(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        seen = json.loads(await _call(channel, "Seen")(b""))
    assert seen["trace"] is not None
    assert seen["trace"] != TRACE_ID
    assert seen["log_trace"] == seen["trace"]
    (server,) = _spans(SpanKind.SERVER)
    assert server.parent is None


async def test_a_service_channel_carries_the_trace_and_request_id_on(address: str) -> None:
    with (
        tracing.TRACER.start_as_current_span("caller's rpc") as caller,
        structlog.contextvars.bound_contextvars(request_id="req-2"),
    ):
        async with service_channel(address) as channel:
            seen = json.loads(await _call(channel, "Seen")(b""))
    trace_id = format(caller.get_span_context().trace_id, "032x")
    assert seen == {"trace": trace_id, "log_trace": trace_id, "request": "req-2"}
    (client,) = _spans(SpanKind.CLIENT)
    (server,) = _spans(SpanKind.SERVER)
    assert client.parent is not None
    assert client.parent.span_id == caller.get_span_context().span_id
    assert server.parent is not None
    assert server.parent.span_id == client.context.span_id


async def test_server_faults_fail_the_span_and_refusals_do_not(address: str) -> None:
    with tracing.TRACER.start_as_current_span("caller's rpc"):
        async with service_channel(address) as channel:
            for method in ("Crash", "Missing"):
                with pytest.raises(grpc.aio.AioRpcError):
                    await _call(channel, method)(b"")
    statuses = {
        span.name.rpartition("/")[2]: span.status.status_code for span in _spans(SpanKind.SERVER)
    }
    assert statuses == {"Crash": StatusCode.ERROR, "Missing": StatusCode.UNSET}
    clients = {
        span.name.rpartition("/")[2]: span.status.status_code for span in _spans(SpanKind.CLIENT)
    }
    assert clients == {"Crash": StatusCode.ERROR, "Missing": StatusCode.ERROR}


async def _http_seen(_request: web.Request) -> web.Response:
    bound = structlog.contextvars.get_contextvars()
    return web.json_response({"trace": tracing.trace_id(), "request": bound.get("request_id")})


async def _http_crash(_request: web.Request) -> web.Response:
    raise web.HTTPServiceUnavailable


async def test_an_http_service_continues_the_trace_too() -> None:
    app = web.Application()
    app.router.add_get("/seen/{id}", _http_seen)
    app.router.add_get("/crash", _http_crash)
    app.middlewares.insert(0, request_context)
    async with TestClient(TestServer(app)) as client:
        seen = await (
            await client.get(
                "/seen/7", headers={"traceparent": TRACEPARENT, REQUEST_ID_HEADER: "req-3"}
            )
        ).json()
        assert (await client.get("/crash")).status == 503
    assert seen == {"trace": TRACE_ID, "request": "req-3"}
    spans = {span.name: span for span in _spans(SpanKind.SERVER)}
    assert set(spans) == {"GET /seen/{id}", "GET /crash"}
    seen_span = spans["GET /seen/{id}"]
    assert seen_span.parent is not None
    assert format(seen_span.parent.span_id, "016x") == PARENT_SPAN_ID
    assert seen_span.status.status_code == StatusCode.UNSET
    assert spans["GET /crash"].status.status_code == StatusCode.ERROR


async def test_outside_a_recorded_trace_a_call_has_no_client_span_but_carries_the_trace(
    address: str,
) -> None:
    unsampled = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-00"
    with tracing.TRACER.start_as_current_span(
        "caller's rpc", context=tracing.extract({"traceparent": unsampled})
    ):
        with tracing.client_span("GET", "redis") as store:
            assert not store.is_recording()
        async with service_channel(address) as channel:
            seen = json.loads(await _call(channel, "Seen")(b""))
    assert seen["trace"] == TRACE_ID
    assert EXPORTER.get_finished_spans() == ()
