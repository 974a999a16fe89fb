"""Request bytes that do not parse: INVALID_ARGUMENT naming the field, never INTERNAL.

grpc answers a request whose deserializer raises with UNKNOWN and the parser's own message
("Unexpected <class 'DecodeError'>: ... String field had bad UTF-8"), which names neither the
field nor the rule and leaks a class name. ``ExceptionToStatusInterceptor`` therefore wraps
every handler in ``checking``: its deserializer returns a ``MalformedRequest`` instead of
raising, and the behaviour raises it as ``InvalidArgument`` inside the interceptor's scope.
The field is found by walking the wire format (upb's error does not say which field was bad).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from services.platform import wire
from services.platform.errors import InvalidArgument


@dataclass(frozen=True)
class MalformedRequest:
    """What a tolerant deserializer returns for bytes that do not parse."""

    error: InvalidArgument


def checking(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` with a tolerant deserializer, raising ``InvalidArgument`` for a request that
    did not parse when it is handed to the behaviour (so inside the scope that calls it)."""
    codec: dict[str, Any] = {
        "request_deserializer": _tolerant(handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    # Behaviours are coroutines or async iterators on an aio server; grpc's stubs say otherwise.
    behaviour: Any
    if (behaviour := handler.unary_unary) is not None:
        return grpc.unary_unary_rpc_method_handler(_on_one(behaviour), **codec)
    if (behaviour := handler.unary_stream) is not None:
        return grpc.unary_stream_rpc_method_handler(_on_one(behaviour), **codec)
    if (behaviour := handler.stream_unary) is not None:
        return grpc.stream_unary_rpc_method_handler(_on_each(behaviour), **codec)
    return grpc.stream_stream_rpc_method_handler(_on_each(handler.stream_stream), **codec)


def _checked(request: Any) -> Any:
    if isinstance(request, MalformedRequest):
        raise request.error
    return request


def _on_one(behaviour: Any) -> Any:
    return lambda request, context: behaviour(_checked(request), context)


def _on_each(behaviour: Any) -> Any:
    async def each(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in requests:
            yield _checked(request)

    return lambda requests, context: behaviour(each(requests), context)


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer``, returning a ``MalformedRequest`` where it would raise ``DecodeError``."""
    if deserializer is None:
        return None
    descriptor: Descriptor | None = getattr(
        getattr(deserializer, "__self__", None), "DESCRIPTOR", None
    )

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return MalformedRequest(_explain(descriptor, data))

    return deserialize


def _explain(descriptor: Descriptor | None, data: bytes) -> InvalidArgument:
    bad = None
    if descriptor is not None:
        with contextlib.suppress(IndexError, ValueError):
            bad = _bad_string(descriptor, memoryview(data), "")
    if bad is not None:
        return InvalidArgument.field(bad, "must be valid UTF-8")
    name = descriptor.full_name if descriptor is not None else "message"
    return InvalidArgument.field("request", f"is not a valid {name} (protobuf wire format)")


def _bad_string(descriptor: Descriptor, data: memoryview, prefix: str) -> str | None:
    """The path of the first string field of ``data`` that is not UTF-8, or None. Raises
    IndexError or ValueError where the wire format itself is broken."""
    for number, wire_type, _, value, end in wire.fields(data):
        field = descriptor.fields_by_number.get(number)
        if field is None or wire_type != wire.LENGTH_DELIMITED:
            continue
        path = prefix + field.name
        if field.type == FieldDescriptor.TYPE_STRING:
            try:
                bytes(data[value:end]).decode("utf-8")
            except UnicodeDecodeError:
                return path
        elif field.message_type is not None and (
            found := _bad_string(field.message_type, data[value:end], path + ".")
        ):
            return found
    return None
