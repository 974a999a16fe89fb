"""``python -m devstack.nats_exporter PORT MONITOR_URL...``: the NATS servers' monitoring
endpoints as Prometheus metrics on ``127.0.0.1:PORT``, for the local stack's Prometheus.

The NATS project's own exporter (prometheus-nats-exporter, Apache-2.0), which docker-compose.yml
runs, is not served by the Go module proxy this project installs from, so the local stack runs
this one instead. It reads each server's ``/varz`` and ``/jsz`` at every scrape and gives what it
covers the official exporter's names and labels: ``gnatsd_varz_*`` for each server (``server_id``
is the monitoring URL, as there), ``jetstream_stream_*`` and ``jetstream_consumer_*`` for each
stream and consumer a server holds. A server that does not answer is left out of that scrape
(and ``chirp_nats_exporter_server_up`` says so).
"""

from __future__ import annotations

import json
import signal
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

#: ``/varz`` fields exported, each as ``gnatsd_varz_<field>``.
VARZ_FIELDS = (
    "connections",
    "total_connections",
    "subscriptions",
    "slow_consumers",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "mem",
    "cpu",
)
#: ``jetstream_stream_<name>``: a stream's ``state`` field.
STREAM_FIELDS = {
    "total_messages": "messages",
    "total_bytes": "bytes",
    "first_seq": "first_seq",
    "last_seq": "last_seq",
    "consumer_count": "consumer_count",
}
#: ``jetstream_consumer_<name>``: a path into a consumer's details.
CONSUMER_FIELDS = {
    "num_pending": ("num_pending",),
    "num_ack_pending": ("num_ack_pending",),
    "num_redelivered": ("num_redelivered",),
    "num_waiting": ("num_waiting",),
    "delivered_consumer_seq": ("delivered", "consumer_seq"),
    "delivered_stream_seq": ("delivered", "stream_seq"),
    "ack_floor_consumer_seq": ("ack_floor", "consumer_seq"),
    "ack_floor_stream_seq": ("ack_floor", "stream_seq"),
}
STREAM_LABELS = ["server_id", "server_name", "account", "stream_name", "is_stream_leader"]
CONSUMER_LABELS = [*STREAM_LABELS, "consumer_name", "is_consumer_leader"]
TIMEOUT_SECONDS = 2.0


def fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (the stack's own monitoring URLs)
        document: dict[str, Any] = json.load(response)
    return document


class NatsCollector(Collector):
    def __init__(self, monitor_urls: Sequence[str]) -> None:
        self._urls = list(monitor_urls)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "chirp_nats_exporter_server_up",
            "1 if the server's monitoring endpoint answered this scrape",
            labels=["server_id"],
        )
        varz = {
            field: GaugeMetricFamily(f"gnatsd_varz_{field}", field, labels=["server_id"])
            for field in VARZ_FIELDS
        }
        streams = {
            name: GaugeMetricFamily(f"jetstream_stream_{name}", name, labels=STREAM_LABELS)
            for name in STREAM_FIELDS
        }
        consumers = {
            name: GaugeMetricFamily(f"jetstream_consumer_{name}", name, labels=CONSUMER_LABELS)
            for name in CONSUMER_FIELDS
        }
        for url in self._urls:
            try:
                server = fetch(f"{url}/varz")
                jsz = fetch(f"{url}/jsz?accounts=true&streams=true&consumers=true")
            except (OSError, ValueError):
                up.add_metric([url], 0)
                continue
            up.add_metric([url], 1)
            for field in VARZ_FIELDS:
                varz[field].add_metric([url], float(server.get(field) or 0))
            _add_jetstream(url, server.get("server_name", ""), jsz, streams, consumers)
        yield up
        yield from varz.values()
        yield from streams.values()
        yield from consumers.values()


def _add_jetstream(
    url: str,
    server_name: str,
    jsz: dict[str, Any],
    streams: dict[str, GaugeMetricFamily],
    consumers: dict[str, GaugeMetricFamily],
) -> None:
    for account in jsz.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            leads = (stream.get("cluster") or {}).get("leader", server_name) == server_name
            labels = [url, server_name, account.get("name", ""), stream["name"], str(leads).lower()]
            state = stream.get("state") or {}
            for name, field in STREAM_FIELDS.items():
                streams[name].add_metric(labels, float(state.get(field) or 0))
            for consumer in stream.get("consumer_detail") or []:
                cluster = consumer.get("cluster") or {}
                own = str(cluster.get("leader", server_name) == server_name).lower()
                for name, path in CONSUMER_FIELDS.items():
                    value: Any = consumer
                    for key in path:
                        value = (value or {}).get(key)
                    consumers[name].add_metric([*labels, consumer["name"], own], float(value or 0))


def main(argv: list[str]) -> int:
    port, *urls = argv
    registry = CollectorRegistry()
    registry.register(NatsCollector(urls))
    start_http_server(int(port), addr="127.0.0.1", registry=registry)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    sys.exit(main(sys.argv[1:]))
