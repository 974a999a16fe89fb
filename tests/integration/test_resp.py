"""The hot paths' Redis client (``services/platform/resp.py``) against the local stack's Redis:
replies reach their own callers however many are in flight, errors are redis-py's, a lost or
stuck connection fails what was on it and the next command connects again."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.platform.resp import Resp, Script
from services.platform.settings import StoreSettings


@pytest.fixture
async def client() -> AsyncIterator[Resp]:
    resp = Resp.from_url(StoreSettings().redis_url)
    yield resp
    await resp.aclose()


def _key() -> str:
    return f"test:resp:{uuid.uuid4().hex}"


async def test_concurrent_callers_each_get_their_own_reply(client: Resp) -> None:
    keys = [_key() for _ in range(200)]
    await client.pipeline([("SET", key, index, "EX", 60) for index, key in enumerate(keys)])

    replies = await asyncio.gather(*(client.call("GET", key) for key in keys))

    assert replies == [str(index).encode() for index in range(200)]


async def test_a_pipeline_answers_in_order_and_raises_its_first_error(client: Resp) -> None:
    key = _key()
    assert await client.pipeline([("SET", key, "a", "EX", 60), ("APPEND", key, "b")]) == [
        b"OK",
        2,
    ]
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await client.pipeline([("LPUSH", key, "x"), ("GET", key)])
    assert await client.call("GET", key) == b"ab"  # the pipeline's other commands ran


async def test_an_error_inside_a_transaction_raises(client: Resp) -> None:
    key = _key()
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await client.pipeline(
            [("MULTI",), ("SET", key, "a", "EX", 60), ("LPUSH", key, "x"), ("EXEC",)]
        )
    assert await client.call("GET", key) == b"a"  # the transaction's other commands ran


async def test_a_cancelled_caller_does_not_shift_the_replies_of_the_others(client: Resp) -> None:
    slow, fast = _key(), _key()
    await client.pipeline([("SET", slow, "slow", "EX", 60), ("SET", fast, "fast", "EX", 60)])
    cancelled = asyncio.ensure_future(client.call("GET", slow))
    await asyncio.sleep(0)  # queued, not answered yet
    cancelled.cancel()

    assert await client.call("GET", fast) == b"fast"
    assert await client.call("GET", slow) == b"slow"


async def test_a_script_is_loaded_when_redis_does_not_know_it(client: Resp) -> None:
    script = Script(f"return {{KEYS[1], ARGV[1], '{uuid.uuid4().hex}'}}")
    key = _key()

    first = await client.run(script, [key], ["one"])
    second = await client.run_each(script, [([key], ["two"]), ([key], ["three"])])

    assert first[:2] == [key.encode(), b"one"]
    assert [reply[1] for reply in second] == [b"two", b"three"]


async def test_a_lost_connection_fails_its_commands_and_the_next_one_reconnects(
    client: Resp,
) -> None:
    key = _key()
    await client.call("SET", key, "kept", "EX", 60)
    own_id = await client.call("CLIENT", "ID")
    killer = Resp.from_url(StoreSettings().redis_url)
    try:
        blocked = asyncio.ensure_future(client.call("BLPOP", _key(), 5))
        await asyncio.sleep(0.1)
        assert await killer.call("CLIENT", "KILL", "ID", own_id) == 1
        with pytest.raises(RedisConnectionError):
            await blocked
    finally:
        await killer.aclose()

    assert await client.call("GET", key) == b"kept"
    assert await client.call("CLIENT", "ID") != own_id


async def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed
    client = Resp("127.0.0.1", port, timeout=0.5)

    with pytest.raises(RedisConnectionError, match="cannot connect"):
        await client.call("PING")


@contextlib.asynccontextmanager
async def _silent_server() -> AsyncIterator[int]:
    """A server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_a_command_left_unanswered_times_out_and_fails_the_connection() -> None:
    async with _silent_server() as port:
        client = Resp("127.0.0.1", port, timeout=0.3)
        started = asyncio.get_running_loop().time()
        first = asyncio.ensure_future(client.call("GET", "a"))
        await asyncio.sleep(0.2)
        second = asyncio.ensure_future(client.call("GET", "b"))
        results = await asyncio.gather(first, second, return_exceptions=True)
        waited = asyncio.get_running_loop().time() - started
        await client.aclose()

    assert all(isinstance(result, RedisTimeoutError) for result in results)
    assert 0.3 <= waited < 1.0  # the oldest command's deadline, not one per command


async def test_the_url_database_is_selected_on_every_connection(client: Resp) -> None:
    key = _key()
    other = Resp.from_url("redis://127.0.0.1:6379/5")
    try:
        await other.call("SET", key, "in five", "EX", 60)
        own_id = await other.call("CLIENT", "ID")
        await client.call("CLIENT", "KILL", "ID", own_id)
        with contextlib.suppress(RedisConnectionError):
            await other.call("PING")  # the kill, noticed

        assert await other.call("GET", key) == b"in five"  # selected again
        assert await client.call("GET", key) is None
    finally:
        await other.call("DEL", key)
        await other.aclose()
    with pytest.raises(ValueError, match="scheme"):
        Resp.from_url("unix:///run/redis/redis.sock")
