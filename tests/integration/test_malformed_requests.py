"""Request bytes that do not parse, sent straight to every service's gRPC port: INVALID_ARGUMENT
naming the field, never INTERNAL or UNKNOWN with a parser's message. Every string field of every
method's request, at the top level and one message deep, gets bytes that are not UTF-8; every
method gets bytes that are not a protobuf message at all."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from chirp.graph.v1 import graph_service_pb2
from chirp.media.v1 import media_service_pb2
from chirp.search.v1 import search_service_pb2
from chirp.timelines.v1 import timelines_service_pb2
from chirp.tweets.v1 import tweets_service_pb2
from chirp.users.v1 import users_service_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.rpc import error_details_pb2, status_pb2

from devstack.components import SERVICE_PORTS

MODULES = {
    "users": users_service_pb2,
    "tweets": tweets_service_pb2,
    "graph": graph_service_pb2,
    "timelines": timelines_service_pb2,
    "search": search_service_pb2,
    "media": media_service_pb2,
}
NOT_UTF8 = b"\x00\xff"


def _length_delimited(number: int, value: bytes) -> bytes:
    assert number < 16  # a one-byte tag
    assert len(value) < 128  # a one-byte length
    return bytes([number << 3 | 2, len(value)]) + value


def _spoilt(message: Descriptor) -> Iterator[tuple[str, bytes]]:
    """(path of a string field, request bytes with that field not UTF-8)."""
    for field in message.fields:
        if field.type == FieldDescriptor.TYPE_STRING and field.number < 16:
            yield field.name, _length_delimited(field.number, NOT_UTF8)
        elif field.message_type is not None and field.number < 16:
            for inner in field.message_type.fields:
                if inner.type == FieldDescriptor.TYPE_STRING and inner.number < 16:
                    nested = _length_delimited(inner.number, NOT_UTF8)
                    yield f"{field.name}.{inner.name}", _length_delimited(field.number, nested)


def _methods() -> Iterator[tuple[str, MethodDescriptor]]:
    for name, module in MODULES.items():
        address = f"127.0.0.1:{SERVICE_PORTS[name][0]}"
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield address, method


def _raw(data: bytes) -> bytes:
    return data


def _call(address: str, method: MethodDescriptor, request: bytes) -> grpc.Call:
    path = f"/{method.containing_service.full_name}/{method.name}"
    assert not method.client_streaming, f"{path}: a client stream (send it here)"
    with grpc.insecure_channel(address) as channel:

        def call() -> object:
            if method.server_streaming:
                return list(channel.unary_stream(path, _raw, _raw)(request, timeout=10))
            return channel.unary_unary(path, _raw, _raw)(request, timeout=10)

        with pytest.raises(grpc.RpcError) as raised:
            call()
    assert isinstance(raised.value, grpc.Call)
    return raised.value


def _violations(error: grpc.Call) -> list[str]:
    trailers = dict(error.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    (detail,) = status.details
    bad_request = error_details_pb2.BadRequest()
    assert detail.Unpack(bad_request)
    return [violation.field for violation in bad_request.field_violations]


def test_a_string_that_is_not_utf8_is_invalid_argument_naming_the_field() -> None:
    checked = 0
    for address, method in _methods():
        for path, request in _spoilt(method.input_type):
            error = _call(address, method, request)
            what = f"{method.full_name} {path}"
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (what, error.details())
            assert error.details() == f"{path}: must be valid UTF-8", what
            assert _violations(error) == [path], what
            checked += 1
    assert checked > 30


def test_bytes_that_are_no_message_at_all_are_invalid_argument() -> None:
    for address, method in _methods():
        error = _call(address, method, b"\x0a\xff\xff\xff")  # a length past the end
        details = error.details() or ""
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (method.full_name, details)
        assert f"request: is not a valid {method.input_type.full_name}" in details
        assert "class" not in details
