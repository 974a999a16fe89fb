"""Prometheus metrics of the indexer."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INDEX_LAG = Histogram(
    "chirp_search_index_lag_seconds",
    "From an event's arrival in JetStream to the commit that makes it searchable.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
EVENTS = Counter(
    "chirp_search_index_events_total",
    "Events the indexer handled, by outcome (committed, redelivered).",
    ("outcome",),
)
