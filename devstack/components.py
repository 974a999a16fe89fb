"""Every server of the local stack: how to start it, how to know it is ready, in what order.

Two shapes (``devstack/paths.py``'s ``SHAPE``): ``single``, one process of every store and
service (``make run``, ``make test``); ``cluster``, production's topology on this machine
(``make cluster``, ``make test-cluster``): a three-node Cassandra ring, a Redis Cluster of three
masters and three replicas, a three-node NATS cluster with the stream at three replicas, Neo4j
and SeaweedFS as they are, and two processes of every service behind Envoy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from devstack import (
    cassandra,
    cassandra_ring,
    envoy,
    maven,
    monitoring,
    nats_cluster,
    neo4j,
    probes,
    redis_cluster,
    tls,
)
from devstack.install import GO_BIN
from devstack.paths import DATA, PYTHON, ROOT, SHAPE, VENV_BIN
from devstack.probes import Probe
from services.platform.settings import (
    DEV_S3_SECRET_KEY,
    GRPC_PORTS,
    HTTP_PORTS,
    METRICS_PORTS,
    MediaSettings,
)

Stage = Literal["store", "service", "gateway", "monitoring"]

#: The stages in start order; stop goes the other way. Monitoring first: Jaeger is there for the
#: first spans, and Prometheus sees the rest of the stack come up (and go down).
STAGES: tuple[Stage, ...] = ("monitoring", "store", "service", "gateway")

#: service -> (gRPC or HTTP port, /metrics port), as the services' own settings default them.
SERVICE_PORTS: Mapping[str, tuple[int, int]] = {
    name: (port, METRICS_PORTS[name]) for name, port in {**GRPC_PORTS, **HTTP_PORTS}.items()
}
GATEWAY_PORT = 8080
#: The gateway over HTTPS, with the certificate of the local authority (``devstack/tls.py``).
GATEWAY_TLS_PORT = 8443
ENVOY_ADMIN_PORT = 9901
#: SeaweedFS in one process: its S3 API where the media service looks for it, and the master,
#: volume server and filer behind it (each also serves gRPC on its port + 10000).
S3_PORT = 9000
SEAWEEDFS_MASTER_PORT = 9333
SEAWEEDFS_VOLUME_PORT = 9334
SEAWEEDFS_FILER_PORT = 8888


#: Processes of each service: two in the cluster shape, the second's ports this far above the
#: first's (tweets on 50052 and 50152, its metrics on 9102 and 9202).
REPLICAS = 2 if SHAPE == "cluster" else 1
REPLICA_PORT_STEP = 100


def replica_ports(port: int) -> list[int]:
    """A service's port on each of its processes, the first's (``port``) first."""
    return [port + index * REPLICA_PORT_STEP for index in range(REPLICAS)]


@dataclass(frozen=True)
class Component:
    name: str
    stage: Stage
    ports: tuple[int, ...]
    command: Callable[[], list[str]]
    probe: Probe
    start_timeout: float
    stop_timeout: float = 20.0
    env: Mapping[str, str] = field(default_factory=dict)
    prepare: Callable[[], None] = lambda: None
    #: The address its ports are on (the Cassandra ring's nodes each have their own).
    host: str = "127.0.0.1"


def _redis_tool(name: str = "redis-server") -> str:
    """Debian's ``redis-server`` (or ``redis-cli``), as ``make install`` puts it."""
    return shutil.which(name) or f"/usr/bin/{name}"


#: The single Redis's TLS port (``rediss://``), beside its plain-text 6379.
REDIS_TLS_PORT = 6380


def _redis_command() -> list[str]:
    """Plain text on 6379, TLS with the stores' certificate on ``REDIS_TLS_PORT`` (clients are
    not asked for one)."""
    return [
        _redis_tool(),
        "--bind", "127.0.0.1",
        "--port", "6379",
        "--tls-port", str(REDIS_TLS_PORT),
        "--tls-cert-file", str(tls.FILES.store.certificate),
        "--tls-key-file", str(tls.FILES.store.key),
        "--tls-ca-cert-file", str(tls.FILES.ca),
        "--tls-auth-clients", "no",
        "--dir", str(DATA / "redis"),
        *redis_cluster.SERVER_FLAGS,
    ]  # fmt: skip


#: The single NATS server's configuration file: what its flags cannot say.
NATS_CONFIG = DATA / "nats" / "tls.conf"


def _nats_command() -> list[str]:
    return [
        str(VENV_BIN / "nats-server"),
        "--config", str(NATS_CONFIG),
        "--addr", "127.0.0.1",
        "--port", "4222",
        "--http_port", "8222",
        "--jetstream",
        "--store_dir", str(DATA / "nats"),
        "--server_name", "chirp-local",
    ]  # fmt: skip


#: How long the single NATS server waits for a client's TLS handshake before it speaks plain
#: text: what a ``nats://`` client's connection costs more for the ``tls://`` ones beside it.
NATS_TLS_FIRST_WAIT = "200ms"


def _prepare_nats() -> None:
    """The store's folder and certificate, and TLS on the client port beside plain text (a
    configuration file's options only): a ``tls://`` client starts with its TLS handshake, as
    Chirp's do (``consumers.connect``), and is served over TLS; a ``nats://`` one, silent for
    ``NATS_TLS_FIRST_WAIT``, is then greeted in plain text (``allow_non_tls``)."""
    _store_dir("nats")()
    store = tls.FILES.store
    NATS_CONFIG.write_text(
        "tls {\n"
        f'  cert_file: "{store.certificate}"\n'
        f'  key_file: "{store.key}"\n'
        f'  handshake_first: "{NATS_TLS_FIRST_WAIT}"\n'
        "}\n"
        "allow_non_tls: true\n",
        encoding="utf-8",
    )


def _seaweedfs_command() -> list[str]:
    """``weed server``: master, volume server, filer and S3 gateway in one process, on loopback,
    with no telemetry and none of the extra listeners (Iceberg, Lance) the S3 gateway can open."""
    return [
        str(GO_BIN / "weed"), "server",
        "-dir", str(DATA / "seaweedfs"),
        "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1",
        "-master.port", str(SEAWEEDFS_MASTER_PORT),
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB", "256",
        "-volume.port", str(SEAWEEDFS_VOLUME_PORT),
        "-volume.max", "0",
        "-filer", "-filer.port", str(SEAWEEDFS_FILER_PORT),
        "-s3", "-s3.port", str(S3_PORT),
        "-s3.port.iceberg", "0", "-s3.port.lance", "0",
    ]  # fmt: skip


def chirp_env() -> dict[str, str]:
    """What every Chirp process (service, migration, test, benchmark) is told of the shape:
    nothing in the single shape (the settings' defaults are its addresses); in the cluster
    shape, every node of each store and every process of each service; and, in either, the
    mesh certificate's files when mutual TLS is on (``CHIRP_MTLS_ENABLED``, ``tls.py``), with
    (single shape) every store reached over TLS."""
    if SHAPE == "single":
        return {**tls.mtls_env(), **_store_tls_env()}
    return {
        **tls.mtls_env(),
        **CLUSTER_STORES_ENV,
        **{
            f"CHIRP_{name.upper()}_ADDR": ",".join(f"127.0.0.1:{p}" for p in replica_ports(port))
            for name, port in GRPC_PORTS.items()
        },
    }


def _store_tls_env() -> dict[str, str]:
    """With mutual TLS on, every store reached over TLS too, as compose does: the single-node
    stores' TLS listeners, their certificate checked against the local authority."""
    if not tls.local_mtls().enabled:
        return {}
    return {
        "CHIRP_STORE_TLS_CA_FILE": str(tls.FILES.ca),
        "CHIRP_CASSANDRA_TLS": "true",
        "CHIRP_NEO4J_URI": "bolt+s://127.0.0.1:7687",
        "CHIRP_REDIS_URL": f"rediss://127.0.0.1:{REDIS_TLS_PORT}/0",
        "CHIRP_NATS_URL": "tls://127.0.0.1:4222",
    }


def _service(name: str, index: int) -> Component:
    port, metrics_port = (p + index * REPLICA_PORT_STEP for p in SERVICE_PORTS[name])
    content_port = MediaSettings().content_port + index * REPLICA_PORT_STEP
    http = name in HTTP_PORTS
    return Component(
        name=name if REPLICAS == 1 else f"{name}-{index + 1}",
        stage="service",
        # media also serves its bytes over HTTP (``MediaSettings.content_port``)
        ports=(port, metrics_port, *((content_port,) if name == "media" else ())),
        command=lambda: [str(PYTHON), "-m", f"services.{name}"],
        probe=(lambda: probes.http_health(port)) if http else (lambda: probes.grpc_health(port)),
        start_timeout=60,
        env={
            "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}",
            "CHIRP_DATA_DIR": str(DATA),
            ("CHIRP_HTTP_PORT" if http else "CHIRP_GRPC_PORT"): str(port),
            "CHIRP_METRICS_PORT": str(metrics_port),
            **({"CHIRP_MEDIA_CONTENT_PORT": str(content_port)} if name == "media" else {}),
            # Each search process keeps an index of its own (``SearchSettings.replica``).
            **(
                {"CHIRP_SEARCH_REPLICA": str(index + 1)}
                if name == "search" and REPLICAS > 1
                else {}
            ),
            # The local (dev/test) stack makes 6+ followers a celebrity, so the tests run both
            # the fanout-on-write and the merge-on-read paths of home timelines.
            **({"CHIRP_CELEBRITY_FOLLOWER_THRESHOLD": "5"} if name == "timelines" else {}),
            # Trends are recomputed every second locally (10 s by default), so tests see them,
            # unless the environment says otherwise (``make bench`` runs production's interval).
            **(
                {"CHIRP_TRENDS_RECOMPUTE_SECONDS": "1"}
                if name == "search" and "CHIRP_TRENDS_RECOMPUTE_SECONDS" not in os.environ
                else {}
            ),
            **chirp_env(),
        },
    )


def _data_dir(name: str) -> Callable[[], None]:
    def prepare() -> None:
        (DATA / name).mkdir(parents=True, exist_ok=True)

    return prepare


def _store_dir(name: str) -> Callable[[], None]:
    """A single-node store's data folder, and the stores' certificate (``tls.py``): each store
    also listens for TLS (``CHIRP_STORE_TLS_*``), which the mutual-TLS test run uses."""

    def prepare() -> None:
        (DATA / name).mkdir(parents=True, exist_ok=True)
        tls.ensure()

    return prepare


def _prepare_neo4j() -> None:
    """The store's folder and certificate, copied where neo4j.conf's Bolt TLS reads it: Bolt
    takes TLS on its port beside plain text (``server.bolt.tls_level=OPTIONAL``)."""
    _store_dir("neo4j")()
    neo4j.install_certificate(DATA / "neo4j", tls.FILES.store.certificate, tls.FILES.store.key)


CASSANDRA = Component(
    name="cassandra",
    stage="store",
    ports=(9042, 7000, cassandra.JMX_PORT),
    command=lambda: cassandra.cassandra_command(
        ROOT,
        DATA / "cassandra",
        maven.find_java17(),
        options=cassandra.jmx_options(cassandra.JMX_PORT),
    ),
    probe=lambda: probes.cassandra(9042),
    start_timeout=180,
    stop_timeout=30,
    # Its cassandra.yaml and TLS keystore, written under its data folder (devstack/cassandra.py).
    prepare=lambda: cassandra.write_config(cassandra.base_config(ROOT), DATA / "cassandra"),
)
NEO4J = Component(
    name="neo4j",
    stage="store",
    ports=(7687, 7474),
    command=lambda: neo4j.neo4j_command(ROOT, DATA / "neo4j", maven.find_java17()),
    probe=lambda: probes.neo4j(7687),
    start_timeout=180,
    stop_timeout=30,
    prepare=_prepare_neo4j,
)
REDIS = Component(
    name="redis",
    stage="store",
    ports=(6379, REDIS_TLS_PORT),
    command=_redis_command,
    probe=lambda: probes.redis(6379),
    start_timeout=30,
    prepare=_store_dir("redis"),
)
NATS = Component(
    name="nats",
    stage="store",
    ports=(4222, 8222),
    command=_nats_command,
    probe=lambda: probes.nats(8222),
    start_timeout=30,
    prepare=_prepare_nats,
)
_SEAWEEDFS_PORTS = (S3_PORT, SEAWEEDFS_MASTER_PORT, SEAWEEDFS_VOLUME_PORT, SEAWEEDFS_FILER_PORT)
SEAWEEDFS = Component(
    name="seaweedfs",
    stage="store",
    ports=(*_SEAWEEDFS_PORTS, *(port + 10000 for port in _SEAWEEDFS_PORTS)),
    command=_seaweedfs_command,
    # 200 once the S3 gateway answers and reaches its filer.
    probe=lambda: probes.http_ok(f"http://127.0.0.1:{S3_PORT}/healthz"),
    start_timeout=60,
    # The S3 gateway's one identity (an admin): the media service's development
    # credentials, which its settings default to.
    env={"AWS_ACCESS_KEY_ID": "chirp", "AWS_SECRET_ACCESS_KEY": DEV_S3_SECRET_KEY},
    prepare=_data_dir("seaweedfs"),
)


def _nats_node(index: int) -> Component:
    monitor_port = nats_cluster.MONITOR_PORTS[index]
    return Component(
        name=f"nats-{index + 1}",
        stage="store",
        ports=(
            nats_cluster.CLIENT_PORTS[index],
            nats_cluster.ROUTE_PORTS[index],
            monitor_port,
        ),
        command=lambda: nats_cluster.nats_node_command(
            index, DATA / "nats", VENV_BIN / "nats-server"
        ),
        # Plain /healthz: ready once JetStream is current with the cluster (a meta leader).
        probe=lambda: probes.http_ok(f"http://127.0.0.1:{monitor_port}/healthz"),
        start_timeout=60,
        prepare=_data_dir("nats"),
    )


def _cassandra_node(index: int) -> Component:
    name = f"cassandra-{index + 1}"
    address = cassandra_ring.RING.addresses[index]
    return Component(
        name=name,
        stage="store",
        ports=(9042, 7000),
        host=address,
        command=lambda: cassandra_ring.node_command(index, ROOT, DATA / name, maven.find_java17()),
        # Ready once it sees the other two up (three copies at quorum need them).
        probe=lambda: probes.cassandra_node(address, cassandra_ring.RING.addresses),
        start_timeout=180,
        stop_timeout=30,
        prepare=lambda: cassandra_ring.write_node_config(index, ROOT, DATA / name),
    )


def _redis_node(index: int) -> Component:
    port = redis_cluster.PORTS[index]
    return Component(
        name=redis_cluster.node_name(index),
        stage="store",
        ports=(port, port + redis_cluster.BUS_OFFSET),
        command=lambda: redis_cluster.redis_node_command(index, DATA / "redis", _redis_tool()),
        probe=lambda: probes.redis(port),
        start_timeout=30,
        prepare=_data_dir(f"redis/{redis_cluster.node_name(index)}"),
    )


#: Where the cluster shape's stores are, as the settings take them (``chirp_env``).
CLUSTER_STORES_ENV = {
    "CHIRP_CASSANDRA_HOSTS": cassandra_ring.RING.contact_points(),
    "CHIRP_CASSANDRA_REPLICATION": cassandra_ring.REPLICATION,
    "CHIRP_REDIS_URL": redis_cluster.client_url(),
    "CHIRP_NATS_URL": nats_cluster.client_url(),
    "CHIRP_NATS_REPLICAS": "3",
}


def _stores() -> tuple[Component, ...]:
    if SHAPE == "single":
        return (CASSANDRA, NEO4J, REDIS, NATS, SEAWEEDFS)
    return (
        *(_cassandra_node(index) for index in range(len(cassandra_ring.RING.addresses))),
        NEO4J,
        *(_redis_node(index) for index in range(len(redis_cluster.PORTS))),
        *(_nats_node(index) for index in range(len(nats_cluster.CLIENT_PORTS))),
        SEAWEEDFS,
    )


def form_stores() -> None:
    """What the stores of the shape need once each answers, before anything uses them: the
    cluster shape's Redis nodes made one cluster (unless they already are)."""
    if SHAPE == "cluster":
        redis_cluster.form_cluster(_redis_tool("redis-cli"))


#: Each service's gRPC or HTTP port and media's content port, on its first process.
_FIRST_PORTS = (*(port for port, _ in SERVICE_PORTS.values()), MediaSettings().content_port)
ENVOY = Component(
    name="envoy",
    stage="gateway",
    ports=(GATEWAY_PORT, GATEWAY_TLS_PORT, ENVOY_ADMIN_PORT),
    command=lambda: [
        str(VENV_BIN / "envoy"),
        "--config-path",
        str(envoy.LOCAL_CONFIG),
        "--disable-hot-restart",
        "--log-level",
        "warn",
    ],
    probe=lambda: probes.envoy(ENVOY_ADMIN_PORT),
    start_timeout=30,
    # The gateway sends each service's requests to every process of it.
    prepare=lambda: envoy.write_local_config({port: replica_ports(port) for port in _FIRST_PORTS}),
)


def _redis_ports() -> tuple[int, ...]:
    return (6379,) if SHAPE == "single" else redis_cluster.PORTS


def _nats_monitor_urls() -> list[str]:
    ports = (8222,) if SHAPE == "single" else nats_cluster.MONITOR_PORTS
    return [f"http://127.0.0.1:{port}" for port in ports]


def _write_prometheus_config() -> None:
    services = {name: replica_ports(metrics) for name, (_, metrics) in SERVICE_PORTS.items()}
    monitoring.write_prometheus_config(
        monitoring.prometheus_config(services, ENVOY_ADMIN_PORT, _redis_ports())
    )


def _monitor(
    name: str,
    ports: tuple[int, ...],
    command: Callable[[], list[str]],
    ready: str,
    **options: Any,
) -> Component:
    """A server of the monitoring stage, ready once ``ready`` (``port/path``) answers 200."""
    return Component(
        name=name,
        stage="monitoring",
        ports=ports,
        command=command,
        probe=lambda: probes.http_ok(f"http://127.0.0.1:{ready}"),
        start_timeout=60,
        **options,
    )


PROMETHEUS = _monitor(
    "prometheus",
    (monitoring.PROMETHEUS_PORT,),
    lambda: monitoring.prometheus_command(shutil.which("prometheus") or "/usr/bin/prometheus"),
    f"{monitoring.PROMETHEUS_PORT}/-/ready",
    prepare=_write_prometheus_config,
)
REDIS_EXPORTER = _monitor(
    "redis-exporter",
    (monitoring.REDIS_EXPORTER_PORT,),
    lambda: monitoring.redis_exporter_command(
        shutil.which("prometheus-redis-exporter") or "/usr/bin/prometheus-redis-exporter"
    ),
    f"{monitoring.REDIS_EXPORTER_PORT}/health",
)
JAEGER = _monitor(
    "jaeger",
    (
        monitoring.JAEGER_OTLP_PORT,
        monitoring.JAEGER_OTLP_HTTP_PORT,
        monitoring.JAEGER_UI_PORT,
        monitoring.JAEGER_QUERY_GRPC_PORT,
        monitoring.JAEGER_HEALTH_PORT,
        monitoring.JAEGER_METRICS_PORT,
    ),
    lambda: monitoring.jaeger_command(GO_BIN / "jaeger"),
    f"{monitoring.JAEGER_HEALTH_PORT}/status",
)
NATS_EXPORTER = _monitor(
    "nats-exporter",
    (monitoring.NATS_EXPORTER_PORT,),
    lambda: [
        str(PYTHON),
        "-m",
        "devstack.nats_exporter",
        str(monitoring.NATS_EXPORTER_PORT),
        *_nats_monitor_urls(),
    ],
    f"{monitoring.NATS_EXPORTER_PORT}/metrics",
    env={"PYTHONPATH": str(ROOT)},
)

COMPONENTS: tuple[Component, ...] = (
    JAEGER,
    REDIS_EXPORTER,
    NATS_EXPORTER,
    PROMETHEUS,
    *_stores(),
    *(_service(name, index) for name in SERVICE_PORTS for index in range(REPLICAS)),
    ENVOY,
)


def by_name(names: list[str]) -> list[Component]:
    known = {component.name: component for component in COMPONENTS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown component(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [component for component in COMPONENTS if not names or component.name in names]
