"""Every server of the local stack: how to start it, how to know it is ready, in what order."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from devstack import cassandra, envoy, maven, neo4j, probes
from devstack.install import GO_BIN
from devstack.paths import DATA, PYTHON, ROOT, VENV_BIN
from devstack.probes import Probe
from services.platform.settings import (
    DEV_S3_SECRET_KEY,
    GRPC_PORTS,
    HTTP_PORTS,
    METRICS_PORTS,
    MediaSettings,
)

Stage = Literal["store", "service", "gateway"]

#: The stages in start order; stop goes the other way.
STAGES: tuple[Stage, ...] = ("store", "service", "gateway")

#: service -> (gRPC or HTTP port, /metrics port), as the services' own settings default them.
SERVICE_PORTS: Mapping[str, tuple[int, int]] = {
    name: (port, METRICS_PORTS[name]) for name, port in {**GRPC_PORTS, **HTTP_PORTS}.items()
}
GATEWAY_PORT = 8080
ENVOY_ADMIN_PORT = 9901
#: SeaweedFS in one process: its S3 API where the media service looks for it, and the master,
#: volume server and filer behind it (each also serves gRPC on its port + 10000).
S3_PORT = 9000
SEAWEEDFS_MASTER_PORT = 9333
SEAWEEDFS_VOLUME_PORT = 9334
SEAWEEDFS_FILER_PORT = 8888


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


def _redis_command() -> list[str]:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    return [
        server,
        "--bind", "127.0.0.1",
        "--port", "6379",
        "--dir", str(DATA / "redis"),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--protected-mode", "yes",
        "--daemonize", "no",
    ]  # fmt: skip


def _nats_command() -> list[str]:
    return [
        str(VENV_BIN / "nats-server"),
        "--addr", "127.0.0.1",
        "--port", "4222",
        "--http_port", "8222",
        "--jetstream",
        "--store_dir", str(DATA / "nats"),
        "--server_name", "chirp-local",
    ]  # fmt: skip


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


def _service(name: str) -> Component:
    port, metrics_port = SERVICE_PORTS[name]
    http = name in HTTP_PORTS
    return Component(
        name=name,
        stage="service",
        # media also serves its bytes over HTTP (``MediaSettings.content_port``)
        ports=(port, metrics_port, *((MediaSettings().content_port,) if name == "media" else ())),
        command=lambda: [str(PYTHON), "-m", f"services.{name}"],
        probe=(lambda: probes.http_health(port)) if http else (lambda: probes.grpc_health(port)),
        start_timeout=60,
        env={
            "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}",
            "CHIRP_DATA_DIR": str(DATA),
            ("CHIRP_HTTP_PORT" if http else "CHIRP_GRPC_PORT"): str(port),
            "CHIRP_METRICS_PORT": str(metrics_port),
            # The local (dev/test) stack makes 6+ followers a celebrity, so the tests run both
            # the fanout-on-write and the merge-on-read paths of home timelines.
            **({"CHIRP_CELEBRITY_FOLLOWER_THRESHOLD": "5"} if name == "timelines" else {}),
            # Trends are recomputed every second locally (10 s by default), so tests see them.
            **({"CHIRP_TRENDS_RECOMPUTE_SECONDS": "1"} if name == "search" else {}),
        },
    )


def _data_dir(name: str) -> Callable[[], None]:
    def prepare() -> None:
        (DATA / name).mkdir(parents=True, exist_ok=True)

    return prepare


COMPONENTS: tuple[Component, ...] = (
    Component(
        name="cassandra",
        stage="store",
        ports=(9042, 7000),
        command=lambda: cassandra.cassandra_command(ROOT, DATA / "cassandra", maven.find_java17()),
        probe=lambda: probes.cassandra(9042),
        start_timeout=180,
        stop_timeout=30,
        prepare=_data_dir("cassandra"),
    ),
    Component(
        name="neo4j",
        stage="store",
        ports=(7687, 7474),
        command=lambda: neo4j.neo4j_command(ROOT, DATA / "neo4j", maven.find_java17()),
        probe=lambda: probes.neo4j(7687),
        start_timeout=180,
        stop_timeout=30,
        prepare=_data_dir("neo4j"),
    ),
    Component(
        name="redis",
        stage="store",
        ports=(6379,),
        command=_redis_command,
        probe=lambda: probes.redis(6379),
        start_timeout=30,
        prepare=_data_dir("redis"),
    ),
    Component(
        name="nats",
        stage="store",
        ports=(4222, 8222),
        command=_nats_command,
        probe=lambda: probes.nats(8222),
        start_timeout=30,
        prepare=_data_dir("nats"),
    ),
    Component(
        name="seaweedfs",
        stage="store",
        ports=(
            S3_PORT,
            SEAWEEDFS_MASTER_PORT,
            SEAWEEDFS_VOLUME_PORT,
            SEAWEEDFS_FILER_PORT,
            *(
                port + 10000
                for port in (
                    S3_PORT,
                    SEAWEEDFS_MASTER_PORT,
                    SEAWEEDFS_VOLUME_PORT,
                    SEAWEEDFS_FILER_PORT,
                )
            ),
        ),
        command=_seaweedfs_command,
        # 200 once the S3 gateway answers and reaches its filer.
        probe=lambda: probes.http_ok(f"http://127.0.0.1:{S3_PORT}/healthz"),
        start_timeout=60,
        # The S3 gateway's one identity (an admin): the media service's development
        # credentials, which its settings default to.
        env={"AWS_ACCESS_KEY_ID": "chirp", "AWS_SECRET_ACCESS_KEY": DEV_S3_SECRET_KEY},
        prepare=_data_dir("seaweedfs"),
    ),
    *(_service(name) for name in SERVICE_PORTS),
    Component(
        name="envoy",
        stage="gateway",
        ports=(GATEWAY_PORT, ENVOY_ADMIN_PORT),
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
        prepare=envoy.write_local_config,
    ),
)


def by_name(names: list[str]) -> list[Component]:
    known = {component.name: component for component in COMPONENTS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown component(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [component for component in COMPONENTS if not names or component.name in names]
