"""Prometheus RPC metrics, named as go-grpc-prometheus and py-grpc-prometheus name them, and the
Redis caches' lookups (their hit ratios are a dashboard's)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_LABELS = ("grpc_type", "grpc_service", "grpc_method")

STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", _LABELS)
HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, whatever their status.",
    (*_LABELS, "grpc_code"),
)
HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its status, in seconds.",
    _LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

CACHE_LOOKUPS = Counter(
    "chirp_cache_lookups_total",
    "Entries looked up in a Redis cache, by cache and result (hit or miss).",
    ("cache", "result"),
)


def looked_up(cache: str, hits: int, misses: int) -> None:
    """Counts one lookup of ``hits + misses`` entries of ``cache``."""
    if hits:
        CACHE_LOOKUPS.labels(cache, "hit").inc(hits)
    if misses:
        CACHE_LOOKUPS.labels(cache, "miss").inc(misses)
