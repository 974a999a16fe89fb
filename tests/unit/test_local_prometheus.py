"""The local stack's Prometheus configuration (``devstack/monitoring.py``): valid for promtool,
its rule files found, and the same jobs as compose's, so the rules read the same labels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from devstack import components, monitoring
from devstack.paths import ROOT

COMPOSE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"


def _config() -> dict[str, object]:
    services = {name: [metrics] for name, (_, metrics) in components.SERVICE_PORTS.items()}
    return monitoring.prometheus_config(services, components.ENVOY_ADMIN_PORT, (6379,))


def _jobs(config: dict[str, object]) -> dict[str, dict[str, object]]:
    scrape_configs = config["scrape_configs"]
    assert isinstance(scrape_configs, list)
    return {job["job_name"]: job for job in scrape_configs}


def test_promtool_accepts_the_configuration_and_finds_every_rule_file(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is required (Debian's prometheus package: `make install`)")
    path = tmp_path / "prometheus.yml"
    monitoring.write_prometheus_config(_config(), path)
    checked = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for rules in sorted(monitoring.RULES.glob("*.yml")):
        assert f"Checking {rules}" in checked.stdout + checked.stderr


def test_the_jobs_are_compose_s() -> None:
    compose = _jobs(yaml.safe_load(COMPOSE_CONFIG.read_text()))
    local = _jobs(_config())
    assert set(local) == set(compose)
    for name, job in local.items():
        assert job.get("metrics_path", "/metrics") == compose[name].get("metrics_path", "/metrics")


def test_every_service_is_scraped_on_its_metrics_port() -> None:
    jobs = _jobs(_config())
    for name, (_, metrics_port) in components.SERVICE_PORTS.items():
        assert jobs[name]["static_configs"] == [{"targets": [f"127.0.0.1:{metrics_port}"]}]
