"""What the tests know of PromQL and of the metrics there are: the names an expression reads,
and every metric that Chirp's services, Envoy, the exporters and Prometheus itself export, so
that a rule or a dashboard panel reading a misspelt name fails a test instead of never firing
or staying empty."""

from __future__ import annotations

import importlib
import re

import prometheus_client
from prometheus_client.registry import Collector

from devstack import nats_exporter
from devstack.paths import ROOT

#: Envoy's upstream cluster statistics, as its admin /stats/prometheus names them (the
#: `cluster.<name>.upstream_rq_*` statistics of Envoy's documentation).
ENVOY_METRICS = {
    "envoy_cluster_upstream_rq_total",
    "envoy_cluster_upstream_rq_xx",
    "envoy_cluster_upstream_rq_time_bucket",
    "envoy_cluster_upstream_rq_time_sum",
    "envoy_cluster_upstream_rq_time_count",
}
#: Written by Prometheus itself for every target it scrapes.
SCRAPE_METRICS = {"up"}
#: The redis exporter's series that the dashboards read (tests/integration/test_monitoring.py
#: finds each in the running stack's Prometheus).
REDIS_EXPORTER_METRICS = {
    "redis_up",
    "redis_memory_used_bytes",
    "redis_commands_processed_total",
    "redis_connected_clients",
    "redis_keyspace_hits_total",
    "redis_keyspace_misses_total",
}
#: The NATS exporter's series (devstack/nats_exporter.py, under prometheus-nats-exporter's names).
NATS_EXPORTER_METRICS = {
    *(f"gnatsd_varz_{field}" for field in nats_exporter.VARZ_FIELDS),
    *(f"jetstream_stream_{name}" for name in nats_exporter.STREAM_FIELDS),
    *(f"jetstream_consumer_{name}" for name in nats_exporter.CONSUMER_FIELDS),
}

#: The series each metric type adds to its name (prometheus_client's exposition).
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}
#: A module that defines metrics imports one of these from prometheus_client.
_DEFINES_METRICS = re.compile(
    r"^from prometheus_client import .*\b(Counter|Gauge|Histogram|Summary)\b", re.MULTILINE
)

# What in PromQL is not a metric name: strings, label matchers, ranges, label lists, calls.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_CALLS = re.compile(r"\b\w+\s*\(")
_NAMES = re.compile(r"(?<![\w.])[a-zA-Z_:][\w:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    for pattern in (_STRINGS, _MATCHERS, _RANGES, _LABEL_LISTS, _CALLS):
        expr = pattern.sub(" ", expr)
    return {name for name in _NAMES.findall(expr) if name.lower() not in _KEYWORDS}


def exported_metrics() -> set[str]:
    """Every series name the services export: their metrics modules imported, then read from
    prometheus_client's default registry, less its process and Python collectors (the
    services' multiprocess registries do not serve them)."""
    for path in sorted((ROOT / "services").rglob("*.py")):
        if _DEFINES_METRICS.search(path.read_text()):
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    defaults: list[Collector] = [
        prometheus_client.PROCESS_COLLECTOR,
        prometheus_client.PLATFORM_COLLECTOR,
        prometheus_client.GC_COLLECTOR,
    ]
    ignored = {family.name for collector in defaults for family in collector.collect()}
    return {
        family.name + suffix
        for family in prometheus_client.REGISTRY.collect()
        if family.name not in ignored
        for suffix in _SUFFIXES[family.type]
    }
