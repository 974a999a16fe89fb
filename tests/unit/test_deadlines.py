"""Deadlines of calls between services, on a real in-process grpc.aio server with the shared
interceptors: a unary call on a service channel gets the channel's limit unless it names its
own, never more than the call it serves has left; streams get none. (gRPC core encodes a
deadline rounded up, "arbitrarily" in its words: to 100 ms steps for one of tens of seconds, so a
handler may see up to that much more than was asked, hence ``SLACK``.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.platform import deadlines
from services.platform.auth import TokenVerifier
from services.platform.channels import service_channel
from services.platform.interceptors import default_interceptors

SERVICE = "chirp.test.v1.DeadlineService"
SLACK = 0.15
CODEC = {"request_deserializer": bytes, "response_serializer": bytes}


def _left(context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    """The handler's time left, as text ("none": no deadline)."""
    remaining = context.time_remaining()
    return b"none" if remaining is None else str(remaining).encode()


async def _remaining(_request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return _left(context)


async def _stall(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    await asyncio.sleep(30)
    return b""


async def _streamed(
    _request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    yield _left(context)


@pytest.fixture(scope="module")
async def address() -> AsyncIterator[str]:
    """A server whose ``Forward`` asks its own ``Remaining`` over a service channel with a
    5 s limit: what the callee of a callee is given."""
    server = grpc.aio.server(
        interceptors=default_interceptors(
            TokenVerifier(Ed25519PrivateKey.generate().public_key(), "chirp")
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    own = service_channel(f"127.0.0.1:{port}", timeout=5.0)

    async def forward(request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return await _unary(own, "Remaining")(request)

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(handler, **CODEC)
        for name, handler in {"Remaining": _remaining, "Stall": _stall, "Forward": forward}.items()
    }
    handlers["Streamed"] = grpc.unary_stream_rpc_method_handler(_streamed, **CODEC)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    await server.start()
    yield f"127.0.0.1:{port}"
    await own.close()
    await server.stop(None)


def _unary(
    channel: grpc.aio.Channel, method: str
) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=bytes, response_deserializer=bytes
    )


async def test_a_call_gets_its_channels_limit(address: str) -> None:
    async with service_channel(address, timeout=2.0) as channel:
        assert 1.0 < float(await _unary(channel, "Remaining")(b"")) <= 2.0 + SLACK


async def test_a_call_that_names_its_own_limit_keeps_it(address: str) -> None:
    async with service_channel(address, timeout=2.0) as channel:
        assert 20.0 < float(await _unary(channel, "Remaining")(b"", timeout=30.0)) <= 30.0 + SLACK


async def test_a_callee_that_does_not_answer_fails_the_call_at_the_limit(address: str) -> None:
    async with service_channel(address, timeout=0.3) as channel:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _unary(channel, "Stall")(b"")
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 3.0


async def test_a_call_made_for_another_has_no_more_time_than_that_one(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        forward = _unary(channel, "Forward")
        assert float(await forward(b"", timeout=0.8)) <= 0.8 + SLACK  # not the channel's 5 s
        assert 4.0 < float(await forward(b"")) <= 5.0 + SLACK  # a caller without a deadline


async def test_a_stream_has_no_deadline(address: str) -> None:
    async with service_channel(address, timeout=2.0) as channel:
        stream = channel.unary_stream(
            f"/{SERVICE}/Streamed", request_serializer=bytes, response_deserializer=bytes
        )
        assert [answer async for answer in stream(b"")] == [b"none"]


def test_the_budget_is_the_limit_outside_a_call_and_what_is_left_inside_one() -> None:
    assert deadlines.budget(5.0) == 5.0
    with deadlines.serving(None):
        assert deadlines.budget(5.0) == 5.0
    with deadlines.serving(0.5):
        assert 0.4 < deadlines.budget(5.0) <= 0.5
        assert deadlines.budget(0.1) == 0.1
    with deadlines.serving(0.0):  # the caller has given up: the call fails at once
        assert deadlines.budget(5.0) == deadlines.EXPIRED_SECONDS
    assert deadlines.budget(5.0) == 5.0
