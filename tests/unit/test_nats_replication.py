"""Chirp's events on one NATS server or on a three-node cluster: every connection is given the
list of servers, the stream takes its replicas from the setting and the consumers inherit them,
and each node of the local cluster (``devstack/nats_cluster.py``) routes to the other two."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from devstack.nats_cluster import (
    CLIENT_PORTS,
    CLUSTER_NAME,
    MONITOR_PORTS,
    ROUTE_PORTS,
    SERVER_NAMES,
    client_url,
    nats_node_command,
)
from services.platform.consumers import connect
from services.platform.events import CONSUMERS, STREAM, stream
from services.platform.settings import comma_separated

SERVER = Path("/opt/nats-server")


async def test_a_connection_is_given_every_server_of_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """nats-py reads a comma-separated string as one (malformed) URL: it must get a list."""
    given: list[Any] = []

    async def recorded(servers: Any, **_options: Any) -> Client:
        given.append(servers)
        return Client()

    monkeypatch.setattr(nats, "connect", recorded)
    await connect("nats://127.0.0.1:4222")
    await connect(client_url())
    assert given == [
        ["nats://127.0.0.1:4222"],
        ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://127.0.0.1:4224"],
    ]


def test_the_stream_takes_its_replicas_and_the_consumers_inherit_them() -> None:
    assert stream(1).num_replicas == 1
    replicated = stream(3)
    assert replicated.num_replicas == 3
    assert replicated.evolve(num_replicas=None) == STREAM
    # 0: as many as the stream's, and followed when they change (a fixed 1 would stay at 1).
    assert {config.num_replicas for config in CONSUMERS} == {0}


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.mark.parametrize("offset", [0, 20000])
def test_each_node_has_its_own_ports_and_store_and_routes_to_the_other_two(
    tmp_path: Path, offset: int
) -> None:
    nodes = [nats_node_command(i, tmp_path, SERVER, port_offset=offset) for i in range(3)]
    for index, argv in enumerate(nodes):
        assert argv[0] == str(SERVER)
        assert "--jetstream" in argv
        assert _option(argv, "--addr") == "127.0.0.1"
        assert _option(argv, "--port") == str(CLIENT_PORTS[index] + offset)
        assert _option(argv, "--http_port") == str(MONITOR_PORTS[index] + offset)
        assert _option(argv, "--server_name") == SERVER_NAMES[index]
        assert _option(argv, "--cluster_name") == CLUSTER_NAME
        assert _option(argv, "--store_dir") == str(tmp_path / SERVER_NAMES[index])
        assert _option(argv, "--cluster") == f"nats://127.0.0.1:{ROUTE_PORTS[index] + offset}"
        others = [port + offset for i, port in enumerate(ROUTE_PORTS) if i != index]
        assert comma_separated(_option(argv, "--routes")) == [
            f"nats://127.0.0.1:{port}" for port in others
        ]
    assert comma_separated(client_url(offset)) == [
        f"nats://127.0.0.1:{port + offset}" for port in CLIENT_PORTS
    ]
