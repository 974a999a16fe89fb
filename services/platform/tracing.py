"""Traces across the mesh, with OpenTelemetry: one trace per request from the gateway on.

Envoy starts a W3C trace (``traceparent``) for every request, or continues the caller's; each
service's server scope continues it (``interceptors.RequestContextInterceptor``), its calls to
other services carry it on (``channels.service_channel``), its stores' calls are spans of it,
and an event carries it in its JetStream headers to the consumers, whose spans are linked to
it. Spans go over OTLP/gRPC to ``CHIRP_TRACING_OTLP_ENDPOINT`` (Jaeger's collector locally), in
batches from a background thread. Off (``CHIRP_TRACING_ENABLED=false``), every span is the
API's no-op.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager

import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.platform.settings import TracingSettings

TRACER = trace.get_tracer("chirp")
#: W3C Trace Context (``traceparent``, ``tracestate``): what Envoy and every service speak.
PROPAGATOR = TraceContextTextMapPropagator()


def configure_tracing(service: str, settings: TracingSettings) -> None:
    """Sends this process's spans to the collector, as ``service``; nothing when disabled."""
    if not settings.enabled:
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True))
    )
    trace.set_tracer_provider(provider)


@contextmanager
def server_span(
    name: str,
    headers: Mapping[str, str | bytes],
    request_id: str | bytes | None,
    attributes: Mapping[str, str],
    **logged: str,
) -> Iterator[Span]:
    """One request served (gRPC or HTTP): a server span of the trace ``headers`` carry (or of a
    new one), with its trace id, ``request_id`` (a new one when the caller sent none) and
    ``logged`` on every log line written meanwhile. The caller sets the span's outcome."""
    with (
        TRACER.start_as_current_span(
            name,
            context=extract(headers),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span,
        structlog.contextvars.bound_contextvars(
            request_id=str(request_id or uuid.uuid4().hex), trace_id=trace_id(), **logged
        ),
    ):
        yield span


def inject(carrier: MutableMapping[str, str]) -> None:
    """Writes the current trace's ``traceparent`` (and ``tracestate``) into ``carrier``."""
    PROPAGATOR.inject(carrier)


def extract(carrier: Mapping[str, str | bytes]) -> Context:
    """The trace ``carrier``'s headers continue (an empty context when they carry none)."""
    return PROPAGATOR.extract(carrier)


def traceparent() -> str:
    """The current span's ``traceparent`` ("" outside a trace, or one not sampled)."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def publish_span(subject: str, parent: str, headers: MutableMapping[str, str]) -> Iterator[Span]:
    """The publishing of an event on ``subject``, a span of the trace of the write that added
    it (``parent``: its ``traceparent``), whose context goes into the message's ``headers``
    for the consumers to link to."""
    with TRACER.start_as_current_span(
        f"publish {subject}",
        context=extract({"traceparent": parent}) if parent else None,
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "nats", "messaging.destination.name": subject},
    ) as span:
        inject(headers)
        yield span


@contextmanager
def consume_span(consumer: str, headers: Sequence[Mapping[str, str] | None]) -> Iterator[Span]:
    """One batch handled by ``consumer``: a trace of its own, linked to the trace that
    published each of its messages (a fanout found from the post that caused it), whose id is
    on the log lines written meanwhile."""
    links = []
    for message_headers in headers:
        if message_headers and "traceparent" in message_headers:
            context = trace.get_current_span(extract(message_headers)).get_span_context()
            if context.is_valid:
                links.append(Link(context))
    with (
        TRACER.start_as_current_span(
            f"consume {consumer}",
            context=Context(),  # a new trace, whatever runs around it
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "nats",
                "messaging.consumer.group.name": consumer,
                "messaging.batch.message_count": len(headers),
            },
        ) as span,
        structlog.contextvars.bound_contextvars(trace_id=trace_id(), consumer=consumer),
    ):
        yield span


def trace_id() -> str | None:
    """The current trace's id as Jaeger shows it (32 hex digits), or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@contextmanager
def client_span(name: str, system: str, **attributes: str) -> Iterator[Span]:
    """A span around one call to a store or broker (``system``: ``redis``, ``cassandra``,
    ``neo4j``, ``nats``), failed if the call raises. Only within a trace that is recorded: a
    call outside one (a relay's or a consumer's housekeeping) or in one not sampled gets no
    span (1.5 µs, where starting an unsampled span took 20 µs)."""
    if not recording():
        yield trace.INVALID_SPAN
        return
    with TRACER.start_as_current_span(
        name,
        kind=SpanKind.CLIENT,
        attributes={"db.system" if system != "nats" else "messaging.system": system, **attributes},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as error:
            failed(span, error)
            raise


def recording() -> bool:
    """Whether the current trace is recorded (sampled): spans under it are worth starting."""
    return trace.get_current_span().is_recording()


def failed(span: Span, error: BaseException) -> None:
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
