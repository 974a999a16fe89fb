"""Readiness checks: each does a real round trip with the protocol clients use.

A probe returns None when the component is ready, or a short reason why it is not yet.
They run under the project's virtualenv (their drivers come from it).
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable

Probe = Callable[[], "str | None"]


def tcp(port: int, host: str = "127.0.0.1") -> str | None:
    try:
        with socket.create_connection((host, port), timeout=1):
            return None
    except OSError as error:
        return f"{host}:{port}: {error.strerror or error}"


def http_ok(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (fixed http URLs)
            return None if response.status == 200 else f"{url}: HTTP {response.status}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url}: {error}"


def cassandra(port: int) -> str | None:
    if (reason := tcp(port)) is not None:
        return reason
    from cassandra.cluster import Cluster  # noqa: PLC0415  (needs the virtualenv)

    cluster = Cluster(["127.0.0.1"], port=port, connect_timeout=3, control_connection_timeout=3)
    try:
        cluster.connect().execute("SELECT release_version FROM system.local", timeout=5)
    except Exception as error:
        return f"CQL: {error}"
    finally:
        cluster.shutdown()
    return None


def neo4j(port: int) -> str | None:
    if (reason := tcp(port)) is not None:
        return reason
    from neo4j import GraphDatabase  # noqa: PLC0415

    try:
        with GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=None) as driver:
            driver.execute_query("RETURN 1")
    except Exception as error:
        return f"Bolt: {error}"
    return None


def redis(port: int) -> str | None:
    import redis as redis_client  # noqa: PLC0415

    try:
        client = redis_client.Redis(host="127.0.0.1", port=port, socket_timeout=2)
        with client:
            client.ping()
    except redis_client.RedisError as error:
        return f"Redis: {error}"
    return None


def nats(monitor_port: int) -> str | None:
    return http_ok(f"http://127.0.0.1:{monitor_port}/healthz?js-enabled-only=true")


def grpc_health(port: int) -> str | None:
    from devstack.tls import local_mtls  # noqa: PLC0415
    from services.platform.healthcheck import not_serving_reason  # noqa: PLC0415

    return not_serving_reason(f"127.0.0.1:{port}", timeout_seconds=2, tls=local_mtls())


def http_health(port: int) -> str | None:
    from devstack.tls import local_mtls  # noqa: PLC0415
    from services.platform.healthcheck import http_not_serving_reason  # noqa: PLC0415

    return http_not_serving_reason(f"127.0.0.1:{port}", timeout_seconds=2, tls=local_mtls())


def envoy(admin_port: int) -> str | None:
    return http_ok(f"http://127.0.0.1:{admin_port}/ready")


def cassandra_node(address: str, ring: tuple[str, ...], port: int = 9042) -> str | None:
    """Node ``address`` of ``ring`` answers CQL there and sees every other node up: its
    system.peers lists them, and a read at consistency ALL that it coordinates succeeds, which
    it refuses while it holds a replica down (system_distributed keeps three copies, one on
    each node of a three-node ring)."""
    if (reason := tcp(port, address)) is not None:
        return reason
    from cassandra import ConsistencyLevel  # noqa: PLC0415
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile  # noqa: PLC0415
    from cassandra.policies import WhiteListRoundRobinPolicy  # noqa: PLC0415
    from cassandra.query import SimpleStatement  # noqa: PLC0415

    only_it = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]))
    cluster = Cluster(
        [address],
        port=port,
        connect_timeout=3,
        control_connection_timeout=3,
        execution_profiles={EXEC_PROFILE_DEFAULT: only_it},
    )
    try:
        session = cluster.connect()
        peers = {row.peer for row in session.execute("SELECT peer FROM system.peers", timeout=5)}
        if unknown := sorted(set(ring) - peers - {address}):
            return f"{address} does not know {', '.join(unknown)} yet"
        every_replica = SimpleStatement(
            "SELECT keyspace_name FROM system_distributed.repair_history "
            "WHERE keyspace_name = 'probe' AND columnfamily_name = 'probe'",
            consistency_level=ConsistencyLevel.ALL,
        )
        session.execute(every_replica, timeout=5)
    except Exception as error:
        return f"{address}: {error}"
    finally:
        cluster.shutdown()
    return None


def cassandra_ring(addresses: tuple[str, ...], port: int = 9042) -> str | None:
    """The ring is ready when each of its nodes is (``cassandra_node``)."""
    reasons = (cassandra_node(address, addresses, port) for address in addresses)
    return next((reason for reason in reasons if reason is not None), None)
