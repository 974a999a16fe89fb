"""Neo4j over TLS: the local server takes TLS on its Bolt port beside plain text
(``server.bolt.tls_level=OPTIONAL``, devstack/conf/neo4j/neo4j.conf), and Chirp's drivers
(``services/platform/graph_db.py``) speak it for a ``bolt+s://`` or ``neo4j+s://`` address,
checking the server's certificate against ``CHIRP_STORE_TLS_CA_FILE``
(``services/platform/store_tls.py``)."""

from __future__ import annotations

import socket
import ssl
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from neo4j.exceptions import ServiceUnavailable

from devstack import tls
from services.platform import graph_db, store_tls
from services.platform.settings import StoreSettings

BOLT = ("127.0.0.1", 7687)
#: Bolt's opening: its magic number, then four proposed versions (5.0, then none).
BOLT_HANDSHAKE = bytes.fromhex("6060b017") + struct.pack(">4I", 5, 0, 0, 0)


def _settings(scheme: str) -> StoreSettings:
    return StoreSettings(neo4j_uri=f"{scheme}://{BOLT[0]}:{BOLT[1]}")


@pytest.mark.usefixtures("trusting_local")
@pytest.mark.parametrize("scheme", ["bolt+s", "neo4j+s"])
async def test_a_tls_address_round_trips_through_the_async_driver(scheme: str) -> None:
    async with graph_db.async_driver(_settings(scheme)) as driver:
        records, _, _ = await driver.execute_query("RETURN $sent AS echoed", sent="over tls?")
        assert driver.encrypted
    assert [record["echoed"] for record in records] == ["over tls?"]


@pytest.mark.usefixtures("trusting_local")
@pytest.mark.parametrize("scheme", ["bolt+s", "bolt"])
def test_the_port_serves_tls_and_plain_text_alike(scheme: str) -> None:
    with graph_db.driver(_settings(scheme)) as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one")
        assert driver.encrypted is (scheme == "bolt+s")
    assert [record["one"] for record in records] == [1]


@pytest.mark.usefixtures("trusting_local")
def test_the_server_speaks_bolt_inside_tls_with_the_stores_certificate() -> None:
    """Below the driver: a TLS session under the stores' rule, then Bolt's handshake in it."""
    with (
        socket.create_connection(BOLT, timeout=5) as raw,
        store_tls.client_context().wrap_socket(raw, server_hostname=BOLT[0]) as secure,
    ):
        secure.sendall(BOLT_HANDSHAKE)
        agreed = secure.recv(4)
        served = secure.getpeercert(binary_form=True)
        version = secure.version()
    assert agreed[-1] == 5  # Bolt 5.x, its major version last
    assert version in {"TLSv1.2", "TLSv1.3"}
    store = x509.load_pem_x509_certificate(tls.FILES.store.certificate.read_bytes())
    assert served == store.public_bytes(serialization.Encoding.DER)


@pytest.mark.usefixtures("trusting_another")
async def test_a_server_certified_by_another_authority_is_refused() -> None:
    async with graph_db.async_driver(_settings("bolt+s"), connection_timeout=5) as driver:
        with pytest.raises(ServiceUnavailable) as refused:
            await driver.verify_connectivity()
    assert _verification_failed(refused.value)


def _verification_failed(error: BaseException) -> bool:
    """Whether the certificate check is among the error's causes."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
