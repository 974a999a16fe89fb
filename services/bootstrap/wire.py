"""Protobuf messages assembled from bytes, for the hot reads.

A message field is a tag, a length and the field's bytes, and a repeated field is its elements
one after another; a message is its fields in any order (a message field given twice is merged).
So a response can be built from serialized tweets (the tweet cache holds them ready to send)
without decoding and encoding each: ``field(1, tweet)`` for each, then the other fields. The
bytes are the message grpc would send; ``bytes_handler`` registers a servicer's methods so that
the ones that answer with such bytes send them as they are.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor

_LENGTH_DELIMITED = 2


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
    return varint(number << 3 | _LENGTH_DELIMITED) + varint(len(payload)) + payload


def repeated(number: int, payloads: Iterable[bytes]) -> bytes:
    """A repeated message field of already serialized messages."""
    tag = varint(number << 3 | _LENGTH_DELIMITED)
    return b"".join(tag + varint(len(payload)) + payload for payload in payloads)


def text(number: int, value: str) -> bytes:
    """A string field, absent when empty (as proto3 serializes it)."""
    return field(number, value.encode()) if value else b""


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
