"""Redis over TLS: the single server takes ``rediss://`` clients on its TLS port (6380) beside
plain ones on 6379 (``devstack/components.py``), and Chirp's clients (``redis_clients.py``:
``Resp``, and redis-py for pub/sub on a server or a cluster's seeds) check the server's
certificate against ``CHIRP_STORE_TLS_CA_FILE`` and the address they dialled
(``services/platform/store_tls.py``)."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from devstack import tls
from services.platform.redis_clients import pubsub_client, resp_client

TLS_ADDRESS = "127.0.0.1:6380"
#: A seed nobody listens on: a cluster's pub/sub client goes on to the next one.
DEAD_SEED = "127.0.0.1:1"

#: What the server says of a client's connection: the address of its own end (``laddr``).
Reached = Callable[[str], Awaitable[str]]


async def _reached_by_resp(url: str) -> str:
    client = resp_client(url, timeout=2)
    try:
        info: bytes = await client.call("CLIENT", "INFO")
    finally:
        await client.aclose()
    fields = dict(field.split("=", 1) for field in info.decode().split())
    return fields["laddr"]


async def _reached_by_redis_py(url: str) -> str:
    client = pubsub_client(url)
    try:
        info = await client.client_info()
    finally:
        await client.aclose()
    return str(info["laddr"])


#: Every client of a TLS URL, and its URL of a server at ``{}``.
CLIENTS = [
    pytest.param(_reached_by_resp, "rediss://{}/0", id="resp"),
    pytest.param(_reached_by_redis_py, "rediss://{}/0", id="pubsub"),
    pytest.param(_reached_by_redis_py, f"rediss+cluster://{DEAD_SEED},{{}}", id="pubsub-seeds"),
]


@pytest.mark.usefixtures("trusting_local")
@pytest.mark.parametrize(("reached", "url"), CLIENTS)
async def test_a_tls_url_reaches_the_tls_port(reached: Reached, url: str) -> None:
    assert await reached(url.format(TLS_ADDRESS)) == TLS_ADDRESS


async def test_the_tls_port_speaks_tls_only() -> None:
    """So a client the server saw on it spoke TLS."""
    with pytest.raises(RedisConnectionError):
        await _reached_by_resp(f"redis://{TLS_ADDRESS}/0")


@pytest.mark.usefixtures("trusting_local")
async def test_commands_and_pubsub_round_trip_over_tls() -> None:
    url, key = f"rediss://{TLS_ADDRESS}/0", f"test:tls:{uuid.uuid4().hex}"
    resp, redis = resp_client(url), pubsub_client(url)
    try:
        await resp.call("SET", key, "over tls", "EX", 60)
        assert await resp.call("GET", key) == b"over tls"
        async with redis.pubsub() as pubsub:
            await pubsub.subscribe(key)
            subscribed = await pubsub.get_message(timeout=5)
            assert await resp.call("PUBLISH", key, "heard") == 1
            message = await pubsub.get_message(timeout=5)
        assert subscribed is not None
        assert subscribed["type"] == "subscribe"
        assert message is not None
        assert message["data"] == b"heard"
    finally:
        await resp.call("DEL", key)
        await asyncio.gather(resp.aclose(), redis.aclose())


@pytest.mark.usefixtures("trusting_another")
@pytest.mark.parametrize(("reached", "url"), CLIENTS)
async def test_a_server_certified_by_another_authority_is_refused(
    reached: Reached, url: str
) -> None:
    with pytest.raises(RedisConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await reached(url.format(TLS_ADDRESS))


@pytest.fixture
async def misnamed(tmp_path: Path) -> AsyncIterator[str]:
    """The address of a TLS server whose certificate, from the authority the clients trust
    (``trusting_another``'s), names another host (the mesh's name, no address)."""
    files = tls.ensure(tls.Files.under(tmp_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.mesh.certificate, files.mesh.key)
    server = await asyncio.start_server(
        lambda _, writer: writer.close(), "127.0.0.1", 0, ssl=context
    )
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"127.0.0.1:{port}"


@pytest.mark.usefixtures("trusting_another")
@pytest.mark.parametrize(("reached", "url"), CLIENTS)
async def test_a_certificate_for_another_name_is_refused(
    reached: Reached, url: str, misnamed: str
) -> None:
    with pytest.raises(RedisConnectionError, match="IP address mismatch"):
        await reached(url.format(misnamed))
