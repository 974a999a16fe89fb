"""The stores are reached as the stack runs: in plain text, or, in the mutual-TLS run, over TLS
(``CHIRP_STORE_TLS_*``, ``devstack/components.py``): asked of the stores themselves, every
connection the services (and the tests) hold to Cassandra and to NATS is one or the other."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from cassandra.cluster import Session

from devstack.nats_cluster import MONITOR_PORTS
from services.platform.settings import StoreSettings

SETTINGS = StoreSettings()


def test_every_connection_to_cassandra_is_of_the_stacks_transport(session: Session) -> None:
    rows = list(session.execute("SELECT address, port, ssl_enabled FROM system_views.clients"))
    assert len(rows) > 1, "the services hold connections to the node"
    assert {row.ssl_enabled for row in rows} == {SETTINGS.cassandra_tls}


def test_every_connection_to_nats_is_of_the_stacks_transport() -> None:
    secure = urlsplit(SETTINGS.nats_servers[0]).scheme == "tls"
    connections = []
    for port in MONITOR_PORTS:  # the single server's, or each of the cluster's
        try:
            found = httpx.get(f"http://127.0.0.1:{port}/connz", params={"limit": 4096})
        except httpx.ConnectError:
            continue
        connections += found.json()["connections"]
    assert connections, "the services hold connections to NATS"
    assert {bool(connection.get("tls_version")) for connection in connections} == {secure}
