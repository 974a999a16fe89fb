"""The local stack's Jaeger and Prometheus, and the exporters Prometheus scrapes besides the
services themselves.

Jaeger (v2, built from ``tools/jaeger``; ``devstack/conf/jaeger/config.yaml``) takes every
process's spans over OTLP and keeps the newest in memory; its UI is on ``JAEGER_UI_PORT``.

Prometheus (Debian's ``prometheus``, Apache-2.0) scrapes every process of every service, Envoy's
admin statistics, Redis through Debian's ``prometheus-redis-exporter`` (MIT; one exporter for
every Redis node, each scraped as its own target through the exporter's ``/scrape``) and NATS
through ``devstack/nats_exporter.py``, and evaluates the rules of ``deploy/prometheus/rules``
(the same files compose mounts). Its configuration is written from the shape's components at
each start (``.data/prometheus/prometheus.yml``); the jobs are named as in compose's
``deploy/prometheus/prometheus.yml``, so the rules read the same labels on both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from devstack.paths import DATA, ROOT

PROMETHEUS_PORT = 9090
REDIS_EXPORTER_PORT = 9121
NATS_EXPORTER_PORT = 7777
#: Jaeger (``devstack/conf/jaeger/config.yaml``): OTLP/gRPC and HTTP in, the UI and query API,
#: its health, and its own metrics.
JAEGER_OTLP_PORT = 4317
JAEGER_OTLP_HTTP_PORT = 4318
JAEGER_UI_PORT = 16686
JAEGER_QUERY_GRPC_PORT = 16685
JAEGER_HEALTH_PORT = 13133
JAEGER_METRICS_PORT = 14269
#: Locally every 5 s (compose: 15 s), so a change shows within seconds of making it.
SCRAPE_SECONDS = 5
RULES = ROOT / "deploy" / "prometheus" / "rules"
CONFIG = DATA / "prometheus" / "prometheus.yml"
#: Samples kept for two days: the local stack is for looking at what just happened.
RETENTION = "2d"


def _static(job: str, targets: Sequence[str], **options: Any) -> dict[str, Any]:
    return {"job_name": job, **options, "static_configs": [{"targets": list(targets)}]}


def prometheus_config(
    services: Mapping[str, Sequence[int]], envoy_admin_port: int, redis_ports: Sequence[int]
) -> dict[str, Any]:
    """The scrape configuration: ``services`` maps each service to its processes' metrics
    ports; Redis nodes are scraped through the exporter's ``/scrape?target=``, each node its
    own ``instance``."""
    local = "127.0.0.1"
    return {
        "global": {
            "scrape_interval": f"{SCRAPE_SECONDS}s",
            "evaluation_interval": f"{SCRAPE_SECONDS}s",
        },
        "rule_files": [str(RULES / "*.yml")],
        "scrape_configs": [
            *(
                _static(name, [f"{local}:{port}" for port in ports])
                for name, ports in services.items()
            ),
            _static("envoy", [f"{local}:{envoy_admin_port}"], metrics_path="/stats/prometheus"),
            _static(
                "redis",
                [f"redis://{local}:{port}" for port in redis_ports],
                metrics_path="/scrape",
                relabel_configs=[
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {
                        "target_label": "__address__",
                        "replacement": f"{local}:{REDIS_EXPORTER_PORT}",
                    },
                ],
            ),
            _static("nats", [f"{local}:{NATS_EXPORTER_PORT}"]),
            _static("jaeger", [f"{local}:{JAEGER_METRICS_PORT}"]),
            _static("prometheus", [f"{local}:{PROMETHEUS_PORT}"]),
        ],
    }


def write_prometheus_config(config: dict[str, Any], path: Path = CONFIG) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by devstack/monitoring.py at each start of Prometheus; edits are lost.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False))


def prometheus_command(prometheus: str) -> list[str]:
    return [
        prometheus,
        f"--config.file={CONFIG}",
        f"--storage.tsdb.path={DATA / 'prometheus' / 'data'}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
    ]


def jaeger_command(jaeger: Path) -> list[str]:
    return [str(jaeger), f"--config={ROOT / 'devstack' / 'conf' / 'jaeger' / 'config.yaml'}"]


def redis_exporter_command(exporter: str) -> list[str]:
    """The exporter with no Redis of its own (``--redis.addr=``): it scrapes the node each
    scrape names."""
    return [exporter, f"--web.listen-address=127.0.0.1:{REDIS_EXPORTER_PORT}", "--redis.addr="]
