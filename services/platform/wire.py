"""Protobuf messages assembled from bytes, for the hot reads.

A message field is a tag, a length and the field's bytes, and a repeated field is its elements
one after another; a message is its fields in any order (a message field given twice is merged).
So a response can be built from serialized tweets (the tweet cache holds them ready to send)
without decoding and encoding each: ``field(1, tweet)`` for each, then the other fields. The
bytes are the message grpc would send; ``bytes_handler`` registers a servicer's methods so that
the ones that answer with such bytes send them as they are.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


def varint(value: int) -> bytes:
    """``value`` (not negative) as a protobuf varint."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (a message, a string or bytes)."""
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


def repeated(number: int, payloads: Iterable[bytes]) -> bytes:
    """A repeated message field of already serialized messages."""
    tag = varint(number << 3 | LENGTH_DELIMITED)
    return b"".join(tag + varint(len(payload)) + payload for payload in payloads)


def text(number: int, value: str) -> bytes:
    """A string field, absent when empty (as proto3 serializes it)."""
    return field(number, value.encode()) if value else b""


def read_varint(data: bytes | memoryview, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it; IndexError or ValueError where
    the bytes end first or it is too long."""
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int, int, int]]:
    """The top-level fields of a serialized message: (number, wire type, start of the field,
    start of its value, end), in the order they appear. IndexError or ValueError where the
    bytes are no message."""
    position = 0
    while position < len(data):
        start = position
        key, position = read_varint(data, position)
        wire_type = key & 7
        if wire_type == LENGTH_DELIMITED:
            length, position = read_varint(data, position)
            value, position = position, position + length
        elif wire_type == VARINT:
            value, position = position, read_varint(data, position)[1]
        elif wire_type in {FIXED64, FIXED32}:
            value, position = position, position + (8 if wire_type == FIXED64 else 4)
        else:
            raise ValueError(f"wire type {wire_type}")
        if position > len(data):
            raise ValueError("truncated")
        yield key >> 3, wire_type, start, value, position


def with_field(message: bytes, number: int, payload: bytes) -> bytes:
    """``message`` with its field ``number`` (a message or a string) set to ``payload``, where
    protobuf itself would put it: after the fields numbered below it. (Appending it instead would
    give a singular field twice, which parsers merge but Envoy's transcoder refuses.)"""
    before = bytearray()
    after = len(message)
    for field_number, _, start, _, end in fields(message):
        if field_number > number:
            after = start
            break
        if field_number != number:
            before += message[start:end]
    return bytes(before) + field(number, payload) + message[after:]


def _unchanged(data: bytes) -> bytes:
    return data


def bytes_handler(
    service: ServiceDescriptor, servicer: object, sent_as_bytes: Collection[str]
) -> grpc.GenericRpcHandler:
    """The service's handlers as the generated ``add_*_to_server`` makes them, except that the
    methods named in ``sent_as_bytes`` answer with responses already serialized, sent as they
    are. Every method must exist on ``servicer`` (checked here, at start-up)."""
    makers = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    names = {method.name for method in service.methods}
    missing = names - set(dir(servicer))
    if missing or not set(sent_as_bytes) <= names:
        unknown = sorted(set(sent_as_bytes) - names)
        raise ValueError(
            f"{service.full_name}: not implemented {sorted(missing)}, unknown {unknown}"
        )
    handlers = {}
    for method in service.methods:
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        serialize = _unchanged if method.name in sent_as_bytes else response.SerializeToString
        handlers[method.name] = makers[method.client_streaming, method.server_streaming](
            getattr(servicer, method.name),
            request_deserializer=request.FromString,
            response_serializer=serialize,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)
