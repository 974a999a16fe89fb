"""The shared interceptors on a real in-process grpc.aio server, over a real channel."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import cassandra
import grpc
import jwt
import pytest
import redis.exceptions
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import REGISTRY

from services.platform.auth import ALGORITHM, TokenVerifier, require_caller
from services.platform.errors import (
    RETRY_AFTER_HEADER,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from services.platform.interceptors import STATUS_DETAILS_KEY, default_interceptors

SERVICE = "chirp.test.v1.ProbeService"
SIGNING_KEY = Ed25519PrivateKey.generate()


def _token(key: Ed25519PrivateKey = SIGNING_KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "42",
        "username": "ada",
        "iss": "chirp",
        "iat": now,
        "exp": now + 3600,
    }  # minted at collection: valid all run long
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=ALGORITHM)


async def _who_am_i(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    caller = require_caller()
    return f"{caller.user_id}:{caller.username}".encode()


async def _invalid(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    raise InvalidArgument(FieldViolation("text", "must be 1 to 280 characters"))


async def _missing(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    raise NotFound("tweet 7 not found")


async def _limited(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    raise ResourceExhausted("too many posts", retry_after_seconds=30)


async def _crash(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    raise RuntimeError("secret internal detail")


async def _peer_down(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    empty = grpc.aio.Metadata()
    raise grpc.aio.AioRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, empty, empty, "secret detail")


async def _overloaded(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    raise redis.exceptions.MaxConnectionsError("Too many connections (secret detail)")


async def _replica_failed(
    _request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]
) -> bytes:
    raise cassandra.WriteFailure("UNKNOWN from /127.0.0.2:7000 (secret detail)")


async def _stream_then_fail(
    _request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    yield b"first"
    raise NotFound("gone mid-stream")


def _identity(payload: bytes) -> bytes:
    return payload


@pytest.fixture(scope="module")
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(
        interceptors=default_interceptors(TokenVerifier(SIGNING_KEY.public_key(), "chirp"))
    )
    codec = {"request_deserializer": _identity, "response_serializer": _identity}
    unary = {
        name: grpc.unary_unary_rpc_method_handler(handler, **codec)
        for name, handler in {
            "WhoAmI": _who_am_i,
            "Invalid": _invalid,
            "Missing": _missing,
            "Limited": _limited,
            "Crash": _crash,
            "Overloaded": _overloaded,
            "ReplicaFailed": _replica_failed,
            "PeerDown": _peer_down,
        }.items()
    }
    stream = {"Stream": grpc.unary_stream_rpc_method_handler(_stream_then_fail, **codec)}
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {**unary, **stream}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as open_channel:
        yield open_channel
    await server.stop(None)


def _call(channel: grpc.aio.Channel, method: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=_identity, response_deserializer=_identity
    )


async def _error(call: Callable[[], Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call()
    return raised.value


def _status_details(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    trailers = dict(error.trailing_metadata() or ())
    return status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY])


async def test_a_valid_token_identifies_the_caller(channel: grpc.aio.Channel) -> None:
    reply = await _call(channel, "WhoAmI")(b"", metadata=(("authorization", f"Bearer {_token()}"),))
    assert reply == b"42:ada"


@pytest.mark.parametrize(
    ("metadata", "message_part"),
    [
        ((), "needs an access token"),
        ((("authorization", "Basic abc"),), "Bearer"),
        ((("authorization", "Bearer not-a-jwt"),), "invalid access token"),
        ((("authorization", f"Bearer {_token(exp=int(time.time()) - 10)}"),), "expired"),
        ((("authorization", f"Bearer {_token(Ed25519PrivateKey.generate())}"),), "Signature"),
        ((("authorization", f"Bearer {_token(iss='someone-else')}"),), "issuer"),
    ],
    ids=["missing", "wrong-scheme", "garbage", "expired", "wrong-key", "wrong-issuer"],
)
async def test_bad_or_missing_tokens_are_unauthenticated(
    channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], message_part: str
) -> None:
    error = await _error(lambda: _call(channel, "WhoAmI")(b"", metadata=metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert message_part in (error.details() or "")


async def test_unsigned_none_algorithm_tokens_are_refused(channel: grpc.aio.Channel) -> None:
    now = int(time.time())
    unsigned = jwt.encode(
        {
            "sub": "1",
            "iss": "chirp",
            "iat": now,
            "exp": now + 3600,
        },
        key="",
        algorithm="none",
    )
    error = await _error(
        lambda: _call(channel, "WhoAmI")(b"", metadata=(("authorization", f"Bearer {unsigned}"),))
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_invalid_argument_names_the_field_and_rule(channel: grpc.aio.Channel) -> None:
    error = await _error(lambda: _call(channel, "Invalid")(b""))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "text: must be 1 to 280 characters"
    status = _status_details(error)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("text", "must be 1 to 280 characters")
    ]


async def test_resource_exhausted_carries_retry_info(channel: grpc.aio.Channel) -> None:
    error = await _error(lambda: _call(channel, "Limited")(b""))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = error_details_pb2.RetryInfo()
    assert _status_details(error).details[0].Unpack(retry)
    assert retry.retry_delay.seconds == 30
    # ...and as metadata, which the gateway answers as the HTTP Retry-After header.
    assert dict(error.trailing_metadata() or ())[RETRY_AFTER_HEADER] == "30"


async def test_domain_errors_map_to_their_codes(channel: grpc.aio.Channel) -> None:
    missing = await _error(lambda: _call(channel, "Missing")(b""))
    assert (missing.code(), missing.details()) == (grpc.StatusCode.NOT_FOUND, "tweet 7 not found")


async def test_unexpected_errors_are_internal_without_leaking(channel: grpc.aio.Channel) -> None:
    error = await _error(lambda: _call(channel, "Crash")(b"", metadata=(("x-request-id", "r42"),)))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert (error.details() or "").endswith("under request id r42")
    assert "secret" not in (error.details() or "")
    assert "Traceback" not in (error.details() or "")


@pytest.mark.parametrize("method", ["Overloaded", "ReplicaFailed"])
async def test_a_store_that_is_down_or_overloaded_is_unavailable(
    channel: grpc.aio.Channel, method: str
) -> None:
    error = await _error(lambda: _call(channel, method)(b""))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "secret" not in (error.details() or "")


async def test_a_called_service_that_fails_is_unavailable(channel: grpc.aio.Channel) -> None:
    error = await _error(lambda: _call(channel, "PeerDown")(b""))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "DEADLINE_EXCEEDED" in (error.details() or "")
    assert "secret" not in (error.details() or "")


async def test_errors_in_a_stream_end_it_with_their_status(channel: grpc.aio.Channel) -> None:
    call = channel.unary_stream(
        f"/{SERVICE}/Stream", request_serializer=_identity, response_deserializer=_identity
    )(b"")
    assert await call.read() == b"first"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def _handled(method: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "grpc_server_handled_total",
        {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": method, "grpc_code": code},
    )
    return value or 0.0


async def test_metrics_count_every_rpc_by_final_code(channel: grpc.aio.Channel) -> None:
    before = _handled("Missing", "NOT_FOUND"), _handled("WhoAmI", "OK")
    await _error(lambda: _call(channel, "Missing")(b""))
    await _call(channel, "WhoAmI")(b"", metadata=(("authorization", f"Bearer {_token()}"),))
    assert (_handled("Missing", "NOT_FOUND"), _handled("WhoAmI", "OK")) == (
        before[0] + 1,
        before[1] + 1,
    )
    observed = REGISTRY.get_sample_value(
        "grpc_server_handling_seconds_count",
        {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "WhoAmI"},
    )
    assert observed is not None
    assert observed >= 1


def test_invalid_argument_needs_a_violation_and_lists_them_all() -> None:
    with pytest.raises(ValueError, match="at least one"):
        InvalidArgument()
    error = InvalidArgument(FieldViolation("a", "x"), FieldViolation("b", "y"))
    assert str(error) == "a: x; b: y"
