"""``python -m devstack.dashboards``: writes compose's Grafana dashboards, one per concern, to
``deploy/grafana/dashboards/`` from the panels declared here (a test fails when the files and
this module disagree, and when a panel reads a metric nothing exports).

The edge (Envoy's clusters), each service's RED (rate, errors, duration per RPC), the event
pipeline (outbox, consumers' backlogs, fanout and indexing), the caches' hit ratios, and the
stores (Redis, NATS JetStream, Jaeger, every target's health). The rates and percentiles come
from the recording rules of ``deploy/prometheus/rules/recording.yml`` where there is one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.paths import ROOT
from services.platform.settings import GRPC_PORTS

FOLDER = ROOT / "deploy" / "grafana" / "dashboards"
#: The provisioned datasource (``deploy/grafana/provisioning/datasources/prometheus.yml``).
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
WIDTH, HEIGHT = 12, 8


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    rows: tuple[tuple[str, tuple[Panel, ...]], ...]


def _rpc_service(name: str) -> str:
    return f"chirp.{name}.v1.{name.capitalize()}Service"


def _plot(title: str, expr: str, legend: str, unit: str) -> Panel:
    """A panel of one query."""
    return Panel(title, (Query(expr, legend),), unit)


def _red(service: str) -> tuple[str, tuple[Panel, ...]]:
    """A service's rate, errors and duration per RPC, from the gRPC recording rules."""
    selector = f'{{grpc_service="{_rpc_service(service)}"}}'
    recorded = "grpc_service_method:grpc_server_"
    legend = "{{grpc_method}}"
    return (
        service,
        (
            _plot(
                "requests/s by RPC",
                f"sum by (grpc_method) ({recorded}handled:rate5m{selector})",
                legend,
                "reqps",
            ),
            _plot(
                "error ratio by RPC (server faults)",
                f"{recorded}handled_errors:ratio_rate5m{selector}",
                legend,
                "percentunit",
            ),
            *(
                _plot(
                    f"{p} by RPC", f"{recorded}handling_seconds:{p}_rate5m{selector}", legend, "s"
                )
                for p in ("p99", "p50")
            ),
        ),
    )


_ENVOY = "envoy_cluster_name:envoy_cluster_upstream_rq"
EDGE = Dashboard(
    "chirp-edge",
    "Chirp: the edge (Envoy)",
    (
        (
            "by upstream cluster",
            (
                _plot("requests/s", f"{_ENVOY}:rate5m", "{{envoy_cluster_name}}", "reqps"),
                _plot(
                    "5xx ratio",
                    f"{_ENVOY}_5xx:ratio_rate5m",
                    "{{envoy_cluster_name}}",
                    "percentunit",
                ),
                *(
                    _plot(
                        f"{p} upstream time",
                        f"{_ENVOY}_time_seconds:{p}_rate5m",
                        "{{envoy_cluster_name}}",
                        "s",
                    )
                    for p in ("p99", "p50")
                ),
            ),
        ),
    ),
)

SERVICES = Dashboard(
    "chirp-services", "Chirp: services (RED per RPC)", tuple(_red(name) for name in GRPC_PORTS)
)

EVENTS = Dashboard(
    "chirp-events",
    "Chirp: the event pipeline",
    (
        (
            "outbox and consumers",
            (
                Panel(
                    "events published/s by relay",
                    (Query("sum by (job) (rate(chirp_outbox_published_total[5m]))", "{{job}}"),),
                    "ops",
                ),
                Panel(
                    "oldest event waiting to be published",
                    (Query("max by (job) (chirp_outbox_oldest_waiting_seconds)", "{{job}}"),),
                    "s",
                ),
                Panel(
                    "backlog by consumer",
                    (Query("max by (consumer) (chirp_events_backlog)", "{{consumer}}"),),
                ),
                Panel(
                    "events retried and set aside/s",
                    (
                        Query(
                            "sum by (job) (rate(chirp_events_retried_total[5m]))", "retried {{job}}"
                        ),
                        Query(
                            "sum by (job) (rate(chirp_events_set_aside_total[5m]))",
                            "set aside {{job}}",
                        ),
                    ),
                    "ops",
                ),
            ),
        ),
        (
            "fanout and search",
            (
                Panel(
                    "fanout deliveries/s",
                    (
                        Query(
                            "sum(rate(chirp_timelines_fanout_deliveries_total[5m]))", "deliveries"
                        ),
                    ),
                    "ops",
                ),
                Panel(
                    "fanout lag p99 (post to last follower)",
                    (Query("job:chirp_timelines_fanout_lag_seconds:p99_rate5m", "{{job}}"),),
                    "s",
                ),
                Panel(
                    "search index lag p99",
                    (Query("instance:chirp_search_index_lag_seconds:p99_rate5m", "{{instance}}"),),
                    "s",
                ),
                Panel(
                    "JetStream messages pending by consumer",
                    (
                        Query(
                            "max by (consumer_name) (jetstream_consumer_num_pending)",
                            "{{consumer_name}}",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

CACHES = Dashboard(
    "chirp-caches",
    "Chirp: caches",
    (
        (
            "hit ratios",
            (
                Panel(
                    "hit ratio by cache",
                    (
                        Query(
                            'sum by (cache) (rate(chirp_cache_lookups_total{result="hit"}[5m]))'
                            " / sum by (cache) (rate(chirp_cache_lookups_total[5m]))",
                            "{{cache}}",
                        ),
                    ),
                    "percentunit",
                ),
                Panel(
                    "lookups/s by cache",
                    (Query("sum by (cache) (rate(chirp_cache_lookups_total[5m]))", "{{cache}}"),),
                    "ops",
                ),
                Panel(
                    "Redis keyspace hit ratio",
                    (
                        Query(
                            "sum by (instance) (rate(redis_keyspace_hits_total[5m]))"
                            " / (sum by (instance) (rate(redis_keyspace_hits_total[5m]))"
                            " + sum by (instance) (rate(redis_keyspace_misses_total[5m])))",
                            "{{instance}}",
                        ),
                    ),
                    "percentunit",
                ),
            ),
        ),
    ),
)

STORES = Dashboard(
    "chirp-stores",
    "Chirp: stores and brokers",
    (
        (
            "Redis",
            (
                Panel("memory used", (Query("redis_memory_used_bytes", "{{instance}}"),), "bytes"),
                Panel(
                    "commands/s",
                    (Query("rate(redis_commands_processed_total[5m])", "{{instance}}"),),
                    "ops",
                ),
                Panel("clients", (Query("redis_connected_clients", "{{instance}}"),)),
            ),
        ),
        (
            "NATS JetStream",
            (
                Panel(
                    "messages in/s by server",
                    (Query("rate(gnatsd_varz_in_msgs[5m])", "{{server_id}}"),),
                    "ops",
                ),
                Panel("connections", (Query("gnatsd_varz_connections", "{{server_id}}"),)),
                Panel(
                    "stream size",
                    (
                        Query(
                            "max by (stream_name) (jetstream_stream_total_bytes)", "{{stream_name}}"
                        ),
                    ),
                    "bytes",
                ),
            ),
        ),
        (
            "every target",
            (Panel("up (1) or down (0)", (Query("up", "{{job}} {{instance}}"),)),),
        ),
    ),
)

DASHBOARDS = (EDGE, SERVICES, EVENTS, CACHES, STORES)


def render(dashboard: Dashboard) -> dict[str, Any]:
    """Grafana's JSON model of ``dashboard``: a row panel per row, two panels abreast."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row, members in dashboard.rows:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": row,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 2 * WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        for index, panel in enumerate(members):
            panels.append(
                {
                    "id": len(panels) + 1,
                    "type": "timeseries",
                    "title": panel.title,
                    "datasource": DATASOURCE,
                    "gridPos": {
                        "h": HEIGHT,
                        "w": WIDTH,
                        "x": WIDTH * (index % 2),
                        "y": y + HEIGHT * (index // 2),
                    },
                    "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                    "targets": [
                        {
                            "refId": chr(ord("A") + number),
                            "datasource": DATASOURCE,
                            "expr": query.expr,
                            "legendFormat": query.legend,
                        }
                        for number, query in enumerate(panel.queries)
                    ],
                }
            )
        y += HEIGHT * ((len(members) + 1) // 2)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": ["chirp"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "panels": panels,
    }


def files() -> dict[Path, str]:
    """Each dashboard's file and its content."""
    return {
        FOLDER / f"{dashboard.uid}.json": json.dumps(render(dashboard), indent=2) + "\n"
        for dashboard in DASHBOARDS
    }


def main() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for path, content in files().items():
        path.write_text(content)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
