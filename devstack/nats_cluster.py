"""A three-node NATS cluster with JetStream, on loopback: production's shape for events.

Each node is one ``nats-server`` with JetStream on, its own store, and routes to the other two;
the three elect a JetStream meta leader once two of them see each other. Chirp reaches them
through ``client_url()`` (``CHIRP_NATS_URL``) and keeps its stream and consumers on all three
with ``CHIRP_NATS_REPLICAS=3``, so any one node can die without losing or stalling an event.

``port_offset`` moves every port of the cluster (for a cluster next to a running stack's).
"""

from __future__ import annotations

from pathlib import Path

CLUSTER_NAME = "chirp"
SERVER_NAMES = ("chirp-nats-1", "chirp-nats-2", "chirp-nats-3")
CLIENT_PORTS = (4222, 4223, 4224)
ROUTE_PORTS = (6222, 6223, 6224)
MONITOR_PORTS = (8222, 8223, 8224)
HOST = "127.0.0.1"


def client_url(port_offset: int = 0) -> str:
    """Every node's client URL, comma-separated, as ``CHIRP_NATS_URL`` takes them."""
    return ",".join(f"nats://{HOST}:{port + port_offset}" for port in CLIENT_PORTS)


def nats_node_command(
    index: int, data_dir: Path, nats_server: Path, *, port_offset: int = 0
) -> list[str]:
    """The argv of node ``index`` (0, 1 or 2): its JetStream store in ``data_dir``/<its name>,
    routes to the other two nodes."""
    routes = ",".join(
        f"nats://{HOST}:{port + port_offset}"
        for other, port in enumerate(ROUTE_PORTS)
        if other != index
    )
    return [
        str(nats_server),
        "--addr", HOST,
        "--port", str(CLIENT_PORTS[index] + port_offset),
        "--http_port", str(MONITOR_PORTS[index] + port_offset),
        "--jetstream",
        "--store_dir", str(data_dir / SERVER_NAMES[index]),
        "--server_name", SERVER_NAMES[index],
        "--cluster_name", CLUSTER_NAME,
        "--cluster", f"nats://{HOST}:{ROUTE_PORTS[index] + port_offset}",
        "--routes", routes,
    ]  # fmt: skip
