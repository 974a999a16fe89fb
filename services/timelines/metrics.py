"""Prometheus metrics of the fanout worker."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

FANOUT_LAG = Histogram(
    "chirp_timelines_fanout_lag_seconds",
    "From a tweet's creation to its entry in the last follower's home timeline.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
DELIVERIES = Counter(
    "chirp_timelines_fanout_deliveries_total",
    "Home timelines a tweet or retweet was written to by the fanout (rate = deliveries/s).",
)
EVENTS = Counter(
    "chirp_timelines_fanout_events_total",
    "Events the fanout worker handled, by subject and outcome.",
    ("subject", "outcome"),
)
