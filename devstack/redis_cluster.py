"""A Redis Cluster of six nodes on loopback, three masters and a replica of each: production's
shape for Redis.

Each node is one ``redis-server`` with cluster mode on, its own directory (append-only file and
``nodes.conf``, where it keeps what it knows of the cluster) and the bus on its port + 10000.
Once all six answer, ``form_cluster`` gives the masters the 16384 hash slots and each master a
replica (``redis-cli --cluster create``) unless they already form the cluster, as a restarted
stack's nodes do from their ``nodes.conf``. A master that stops answering for
``NODE_TIMEOUT_MS`` is replaced by its replica; nodes keep serving the slots they have while
another's are being failed over (``cluster-require-full-coverage no``). Chirp reaches them
through ``client_url()`` (``CHIRP_REDIS_URL``, ``services/platform/redis_clients.py``).

``port_offset`` moves every port of the cluster (for a cluster next to a running stack's).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"
PORTS = (7001, 7002, 7003, 7004, 7005, 7006)
#: Each node's cluster bus is on its port plus this (Redis's own rule).
BUS_OFFSET = 10000
REPLICAS_PER_MASTER = 1
NODE_TIMEOUT_MS = 2000
#: What every Redis server of the stack runs with, the single one too: durable to the second
#: (append-only, fsync every second), no snapshots, in the foreground.
SERVER_FLAGS = (
    "--appendonly", "yes",
    "--appendfsync", "everysec",
    "--save", "",
    "--protected-mode", "yes",
    "--daemonize", "no",
)  # fmt: skip
#: How long ``form_cluster`` waits for the nodes, then for the cluster to be whole.
FORM_TIMEOUT_SECONDS = 60.0


def node_name(index: int) -> str:
    return f"redis-{index + 1}"


def client_url(port_offset: int = 0) -> str:
    """Every node as a seed, as ``CHIRP_REDIS_URL`` takes them."""
    return "redis+cluster://" + ",".join(f"{HOST}:{port + port_offset}" for port in PORTS)


def redis_node_command(
    index: int, data_dir: Path, redis_server: Path | str, *, port_offset: int = 0
) -> list[str]:
    """The argv of node ``index`` (0 to 5), kept in ``data_dir``/redis-<index + 1> (which must
    exist): durable as the single node is (append-only, fsync every second)."""
    return [
        str(redis_server),
        "--bind", HOST,
        "--port", str(PORTS[index] + port_offset),
        "--dir", str(data_dir / node_name(index)),
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        "--cluster-require-full-coverage", "no",
        *SERVER_FLAGS,
    ]  # fmt: skip


def form_cluster(
    redis_cli: Path | str, *, port_offset: int = 0, timeout: float = FORM_TIMEOUT_SECONDS
) -> None:
    """Once every node answers, creates the cluster if its nodes do not form one yet, then waits
    until it is whole: every node says ``cluster_state:ok`` and every replica is in sync with
    its master. Raises ``TimeoutError`` past ``timeout``."""
    addresses = [f"{HOST}:{port + port_offset}" for port in PORTS]
    deadline = time.monotonic() + timeout
    _wait_for(lambda: all(_cli(redis_cli, a, "PING") == "PONG" for a in addresses), deadline)
    cluster = [_info(redis_cli, a, "CLUSTER", "INFO") for a in addresses]
    if all(info.get("cluster_slots_assigned") == "0" for info in cluster):
        subprocess.run(
            [
                str(redis_cli), "--cluster", "create", *addresses,
                "--cluster-replicas", str(REPLICAS_PER_MASTER), "--cluster-yes",
            ],
            check=True, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    _wait_for(lambda: _whole(redis_cli, addresses), deadline)


def _whole(redis_cli: Path | str, addresses: list[str]) -> bool:
    states = [_info(redis_cli, a, "CLUSTER", "INFO").get("cluster_state") for a in addresses]
    replication = [_info(redis_cli, a, "INFO", "replication") for a in addresses]
    in_sync = [r for r in replication if r.get("master_link_status") == "up"]
    masters = len(PORTS) // (1 + REPLICAS_PER_MASTER)
    return states == ["ok"] * len(PORTS) and len(in_sync) == masters * REPLICAS_PER_MASTER


def _cli(redis_cli: Path | str, address: str, *command: str) -> str:
    """``command``'s reply from the node at ``address`` (empty if it does not answer)."""
    host, port = address.rsplit(":", 1)
    done = subprocess.run(
        [str(redis_cli), "-h", host, "-p", port, *command],
        check=False, capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else ""


def _info(redis_cli: Path | str, address: str, *command: str) -> dict[str, str]:
    """The ``name:value`` lines of ``command``'s reply (CLUSTER INFO, INFO)."""
    lines = _cli(redis_cli, address, *command).splitlines()
    return dict(line.strip().split(":", 1) for line in lines if ":" in line)


def _wait_for(done: Callable[[], bool], deadline: float) -> None:
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the Redis Cluster did not form in time")
        time.sleep(0.2)
