"""Prometheus's rules stay honest: promtool checks them and runs their unit tests, every alert
is tested firing and silent, compose's Prometheus loads every rule file, and a rule reads only
metrics that exist (a misspelt name would otherwise give an alert that can never fire)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.paths import ROOT
from tests.promql import ENVOY_METRICS, SCRAPE_METRICS, exported_metrics, metric_names

PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _rules() -> list[dict[str, Any]]:
    return [
        rule for path in RULE_FILES for group in _load(path)["groups"] for rule in group["rules"]
    ]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is required (Debian's prometheus package: `make install`)")
    return promtool


def _run_promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def unknown_metrics(rules: list[dict[str, Any]], known: set[str]) -> dict[str, set[str]]:
    """For each rule that reads a metric no one exports, the names it reads in vain."""
    known = known | {rule["record"] for rule in rules if "record" in rule}
    unknown = {
        rule.get("alert") or rule["record"]: metric_names(rule["expr"]) - known for rule in rules
    }
    return {name: metrics for name, metrics in unknown.items() if metrics}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda path: path.name)
def test_promtool_accepts_the_rules(path: Path) -> None:
    result = _run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: path.name)
def test_the_rules_pass_their_unit_tests(path: Path) -> None:
    result = _run_promtool("test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    shutil.copytree(PROMETHEUS / "rules", tmp_path / "rules")
    shutil.copytree(PROMETHEUS / "tests", tmp_path / "tests")
    alerts = tmp_path / "rules" / "alerts.yml"
    rule = "expr: job:chirp_timelines_fanout_lag_seconds:p99_rate5m > 5\n"
    assert rule in alerts.read_text()
    alerts.write_text(alerts.read_text().replace(rule, rule.replace("> 5", "> 50")))
    result = _run_promtool("test", "rules", "alerts_test.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0, result.stdout
    assert "ChirpFanoutLagHigh" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in TEST_FILES:
        for test in _load(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {alert["alert"] for alert in _alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"


def test_every_alert_has_a_severity_summary_and_description() -> None:
    for alert in _alerts():
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        assert {"summary", "description"} <= alert["annotations"].keys(), alert["alert"]


def test_compose_prometheus_loads_every_rule_file() -> None:
    """prometheus.yml's rule_files, seen through the prometheus service's mounts."""
    volumes = _load(ROOT / "docker-compose.yml")["services"]["prometheus"]["volumes"]
    mounts = {
        target: ROOT / source
        for source, target, *_ in (volume.split(":") for volume in volumes)
        if source.startswith("./")
    }
    loaded: set[Path] = set()
    for pattern in _load(PROMETHEUS / "prometheus.yml")["rule_files"]:
        folder, _, glob = pattern.rpartition("/")
        loaded |= set(mounts[folder].glob(glob))
    assert RULE_FILES
    assert loaded == set(RULE_FILES)


def test_rules_read_only_metrics_that_are_exported() -> None:
    known = exported_metrics() | ENVOY_METRICS | SCRAPE_METRICS
    assert "grpc_server_handling_seconds_bucket" in known
    assert unknown_metrics(_rules(), known) == {}


def test_a_misspelt_metric_is_caught() -> None:
    known = exported_metrics() | SCRAPE_METRICS
    rules = [
        {
            "record": "job:grpc_server_started:rate5m",
            "expr": "sum by (job) (rate(grpc_server_started_total[5m]))",
        },
        {
            "alert": "Typo",
            "expr": "rate(grpc_server_handeld_total[5m]) / job:grpc_server_started:rate5m",
        },
    ]
    assert unknown_metrics(rules, known) == {"Typo": {"grpc_server_handeld_total"}}
