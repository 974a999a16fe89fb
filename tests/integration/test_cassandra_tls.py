"""Cassandra over TLS: the single node takes TLS clients on its CQL port beside plain ones
(``client_encryption_options``, optional, in devstack/conf/cassandra/cassandra.yaml), and Chirp's
session with ``CHIRP_CASSANDRA_TLS`` (``cql.cluster``) checks the node's certificate against
``CHIRP_STORE_TLS_CA_FILE`` and the address it dialled (``services/platform/store_tls.py``)."""

from __future__ import annotations

import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator

import pytest
from cassandra.cluster import NoHostAvailable, Session

from services.platform import cql
from services.platform.settings import StoreSettings

NODE = ("127.0.0.1", 9042)
#: An address of this machine that the stores' certificate does not name.
UNNAMED_ADDRESS = "127.0.0.5"


@pytest.fixture
def tls_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chirp's processes as the mutual-TLS run starts them: Cassandra over TLS."""
    monkeypatch.setenv("CHIRP_CASSANDRA_TLS", "true")


def _ssl_enabled(session: Session) -> set[bool]:
    """What the node says of each of the session's connections (the control connection's and
    the pool's): TLS or not, found by the connection's port in its list of clients."""
    ports = {
        connection._socket.getsockname()[1]  # noqa: SLF001 (the driver names no local port)
        for holder in session.cluster.get_connection_holders()
        for connection in holder.get_connections()
    }
    clients = session.execute(
        "SELECT port, ssl_enabled FROM system_views.clients WHERE address = %s", (NODE[0],)
    )
    found = {row.port: row.ssl_enabled for row in clients if row.port in ports}
    assert found.keys() == ports
    return set(found.values())


def _round_trip(session: Session) -> int:
    name = f"tls_{uuid.uuid4().hex[:12]}"
    session.execute(
        "INSERT INTO users_by_username (username_folded, user_id) VALUES (%s, %s)", (name, 7)
    )
    try:
        row = session.execute(
            "SELECT user_id FROM users_by_username WHERE username_folded = %s", (name,)
        ).one()
        return int(row.user_id)
    finally:
        session.execute("DELETE FROM users_by_username WHERE username_folded = %s", (name,))


@pytest.mark.usefixtures("tls_chosen", "trusting_local")
def test_with_tls_chosen_every_connection_is_over_tls() -> None:
    session = cql.connect(StoreSettings())
    try:
        assert _round_trip(session) == 7
        assert _ssl_enabled(session) == {True}
    finally:
        session.cluster.shutdown()


def test_without_tls_chosen_the_node_serves_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHIRP_CASSANDRA_TLS", raising=False)
    session = cql.connect(StoreSettings())
    try:
        assert _round_trip(session) == 7
        assert _ssl_enabled(session) == {False}
    finally:
        session.cluster.shutdown()


@pytest.mark.usefixtures("tls_chosen", "trusting_another")
def test_a_node_certified_by_another_authority_is_refused() -> None:
    with pytest.raises(NoHostAvailable, match="CERTIFICATE_VERIFY_FAILED"):
        cql.connect(StoreSettings())


class _Forward(socketserver.BaseRequestHandler):
    """Carries a connection's bytes to the node and back."""

    def handle(self) -> None:
        with socket.create_connection(NODE) as node:
            threading.Thread(target=_pump, args=(node, self.request), daemon=True).start()
            _pump(self.request, node)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        return  # the other side is gone


@pytest.fixture
def unnamed_address_port() -> Iterator[int]:
    """The port, on ``UNNAMED_ADDRESS``, of a forwarder to the node."""
    with socketserver.ThreadingTCPServer((UNNAMED_ADDRESS, 0), _Forward) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server.server_address[1]
        server.shutdown()


@pytest.mark.usefixtures("tls_chosen", "trusting_local")
def test_a_node_whose_certificate_does_not_name_the_address_dialled_is_refused(
    monkeypatch: pytest.MonkeyPatch, unnamed_address_port: int
) -> None:
    """The certificate is the local authority's own, so only the address check can refuse it."""
    monkeypatch.setenv("CHIRP_CASSANDRA_HOSTS", UNNAMED_ADDRESS)
    monkeypatch.setenv("CHIRP_CASSANDRA_PORT", str(unnamed_address_port))
    with pytest.raises(NoHostAvailable, match=f"IP address mismatch.*'{UNNAMED_ADDRESS}'"):
        cql.connect(StoreSettings())
