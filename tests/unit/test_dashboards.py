"""Compose's Grafana dashboards (``devstack/dashboards.py``): the committed files are what the
module writes, one dashboard per concern, provisioned from the mounted folder against the
provisioned datasource, and every panel reads only metrics that something exports."""

from __future__ import annotations

import json
from typing import Any

import yaml

from devstack import dashboards
from devstack.paths import ROOT
from tests.promql import (
    ENVOY_METRICS,
    NATS_EXPORTER_METRICS,
    REDIS_EXPORTER_METRICS,
    SCRAPE_METRICS,
    exported_metrics,
    metric_names,
)

GRAFANA = ROOT / "deploy" / "grafana"


def _recorded() -> set[str]:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "rules" / "recording.yml").read_text())
    return {rule["record"] for group in rules["groups"] for rule in group["rules"]}


def _queries() -> dict[str, list[str]]:
    """Each panel (``dashboard / title``) of the committed files, and its queries."""
    queries: dict[str, list[str]] = {}
    for path in sorted(dashboards.FOLDER.glob("*.json")):
        model: dict[str, Any] = json.loads(path.read_text())
        for panel in model["panels"]:
            if panel["type"] != "row":
                key = f"{model['uid']} / {panel['title']}"
                queries[key] = [target["expr"] for target in panel["targets"]]
    return queries


def test_the_committed_dashboards_are_what_the_module_writes() -> None:
    written = dashboards.files()
    assert set(dashboards.FOLDER.glob("*.json")) == set(written)
    for path, content in written.items():
        assert path.read_text() == content, f"{path.name}: run python -m devstack.dashboards"


def test_one_dashboard_per_concern() -> None:
    assert {dashboard.uid for dashboard in dashboards.DASHBOARDS} == {
        "chirp-edge",
        "chirp-services",
        "chirp-events",
        "chirp-caches",
        "chirp-stores",
    }
    rows = {row for row, _ in dashboards.SERVICES.rows}
    assert rows == {"users", "tweets", "graph", "timelines", "search", "media"}


def test_every_panel_reads_only_metrics_that_are_exported() -> None:
    known = (
        exported_metrics()
        | ENVOY_METRICS
        | SCRAPE_METRICS
        | REDIS_EXPORTER_METRICS
        | NATS_EXPORTER_METRICS
        | _recorded()
    )
    assert "chirp_cache_lookups_total" in known
    unknown = {
        panel: names
        for panel, exprs in _queries().items()
        if (names := set().union(*map(metric_names, exprs)) - known)
    }
    assert unknown == {}
    assert len(_queries()) >= 20


def test_compose_provisions_the_dashboards_against_the_provisioned_datasource() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"])
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "chirp.yml").read_text())
    (folder,) = (each["options"]["path"] for each in provider["providers"])
    assert mounts["./deploy/grafana/dashboards"] == folder
    (datasource,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    for path in dashboards.FOLDER.glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
