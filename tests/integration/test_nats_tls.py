"""NATS over TLS: the single server takes ``tls://`` clients on its client port beside plain
ones (``devstack/components.py``), and Chirp's connection (``consumers.connect``) checks the
server's certificate against ``CHIRP_STORE_TLS_CA_FILE`` (``services/platform/store_tls.py``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from nats.aio.client import Client

from services.platform.consumers import connect

PLAIN, SECURE = "nats://127.0.0.1:4222", "tls://127.0.0.1:4222"
MONITOR = "http://127.0.0.1:8222"


def _tls_version(connection: Client) -> str | None:
    """What the server says of the connection's TLS (None: plain text)."""
    found = httpx.get(f"{MONITOR}/connz", params={"cid": connection.client_id}).json()
    (listed,) = found["connections"]
    version: str | None = listed.get("tls_version")
    return version


async def _round_trip(connection: Client) -> bytes:
    inbox = connection.new_inbox()
    subscription = await connection.subscribe(inbox)
    await connection.publish(inbox, b"over tls?")
    message = await subscription.next_msg(timeout=5)
    return message.data


@pytest.mark.usefixtures("trusting_local")
async def test_a_tls_url_connects_over_tls_and_a_plain_one_does_not() -> None:
    secure, plain = await connect(SECURE), await connect(PLAIN)
    try:
        assert await _round_trip(secure) == b"over tls?"
        assert _tls_version(secure) in {"1.2", "1.3"}
        assert await _round_trip(plain) == b"over tls?"
        assert _tls_version(plain) is None
    finally:
        await secure.close()
        await plain.close()


@pytest.mark.usefixtures("trusting_another")
async def test_a_server_certified_by_another_authority_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # nats-py tries again for as long as a TLS-first handshake fails (it counts attempts only
    # when the TCP connection fails), logging each failure: never connected.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(3):
            await connect(SECURE, connect_timeout=1, reconnect_time_wait=0.2)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
