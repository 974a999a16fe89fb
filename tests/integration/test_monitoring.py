"""The local stack's Prometheus, as running: it scrapes every process of the stack it is told
of, evaluates the rules of deploy/prometheus/rules, reads NATS and Redis through their
exporters, and raises an alert when a service stops answering."""

from __future__ import annotations

import json
import os
import signal
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from devstack.components import REPLICAS, SERVICE_PORTS, replica_ports
from devstack.monitoring import JAEGER_METRICS_PORT, NATS_EXPORTER_PORT, PROMETHEUS_PORT, RULES
from devstack.process import ManagedProcess
from services.platform.events import CONSUMERS
from tests.polling import polled
from tests.promql import NATS_EXPORTER_METRICS, REDIS_EXPORTER_METRICS

PROMETHEUS = f"http://127.0.0.1:{PROMETHEUS_PORT}"
NATS = ("nats", f"127.0.0.1:{NATS_EXPORTER_PORT}")
#: The first scrape of a target comes within one interval (5 s) of Prometheus's start.
WAIT_SECONDS = 40.0


def api(path: str, **query: str) -> Any:
    url = f"{PROMETHEUS}/api/v1/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (the local Prometheus)
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def health() -> dict[tuple[str, str], str]:
    return {
        (target["labels"]["job"], target["labels"]["instance"]): target["health"]
        for target in api("targets", state="active")["activeTargets"]
    }


def test_every_process_of_the_stack_is_scraped_and_up() -> None:
    expected = {
        *(
            (name, f"127.0.0.1:{port}")
            for name, (_, metrics_port) in SERVICE_PORTS.items()
            for port in replica_ports(metrics_port)
        ),
        ("envoy", "127.0.0.1:9901"),
        NATS,
        ("jaeger", f"127.0.0.1:{JAEGER_METRICS_PORT}"),
        ("prometheus", f"127.0.0.1:{PROMETHEUS_PORT}"),
    }
    seen = polled(
        health,
        lambda targets: (
            all(targets.get(target) == "up" for target in expected)
            and all(state == "up" for (job, _), state in targets.items() if job == "redis")
        ),
        "targets",
        WAIT_SECONDS,
    )
    assert expected <= set(seen)
    assert any(job == "redis" and instance.startswith("redis://") for job, instance in seen)


def test_every_rule_is_loaded_and_evaluates() -> None:
    groups = {
        group["name"]
        for path in RULES.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
    }
    loaded = polled(
        lambda: api("rules")["groups"],
        lambda found: (
            {group["name"] for group in found} >= groups
            and all(
                rule.get("lastEvaluation", "").startswith("20")
                for g in found
                for rule in g["rules"]
            )
        ),
        "rule groups",
        WAIT_SECONDS,
    )
    for group in loaded:
        for rule in group["rules"]:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))


def test_every_consumer_backlog_reaches_prometheus_through_the_nats_exporter() -> None:
    def consumers() -> set[str]:
        result = api("query", query="jetstream_consumer_num_pending")["result"]
        return {series["metric"]["consumer_name"] for series in result}

    wanted = {config.durable_name for config in CONSUMERS}
    polled(consumers, lambda found: wanted <= found, "consumers seen by Prometheus", WAIT_SECONDS)


def test_the_exporters_series_that_the_dashboards_read_are_there() -> None:
    wanted = REDIS_EXPORTER_METRICS | NATS_EXPORTER_METRICS
    pattern = "|".join(sorted(wanted))

    def names() -> set[str]:
        result = api("query", query=f'count by (__name__) ({{__name__=~"{pattern}"}})')["result"]
        return {series["metric"]["__name__"] for series in result}

    polled(names, lambda found: wanted <= found, "the exporters' series", WAIT_SECONDS)


#: The service the alert test stops: media, little used by the tests around it.
STOPPED = "media" if REPLICAS == 1 else "media-1"
STOPPED_TARGET = ("media", f"127.0.0.1:{SERVICE_PORTS['media'][1]}")


@pytest.fixture
def stopped_service() -> Iterator[None]:
    """A service's process stopped (SIGSTOP: alive, so nothing restarts it, but it answers
    nothing, its metrics neither), and woken again after the test."""
    pid = ManagedProcess(STOPPED).pid()
    assert pid is not None, f"the {STOPPED} component is not running"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
        polled(health, lambda targets: targets.get(STOPPED_TARGET) == "up", STOPPED, WAIT_SECONDS)


@pytest.mark.usefixtures("stopped_service")
def test_a_stopped_service_raises_target_down() -> None:
    def alerts() -> list[str]:
        return [
            alert["state"]
            for alert in api("alerts")["alerts"]
            if alert["labels"].get("alertname") == "ChirpTargetDown"
            and (alert["labels"].get("job"), alert["labels"].get("instance")) == STOPPED_TARGET
        ]

    # Pending at the first evaluation that finds it down; firing after its minute.
    states = polled(alerts, bool, f"ChirpTargetDown for {STOPPED}", WAIT_SECONDS)
    assert set(states) <= {"pending", "firing"}
    assert health()[STOPPED_TARGET] == "down"
