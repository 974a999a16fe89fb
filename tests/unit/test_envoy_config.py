"""The local gateway runs production's Envoy configuration with only addresses and paths changed."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from devstack.components import SERVICE_PORTS
from devstack.envoy import SOURCE_CONFIG, localize
from devstack.paths import ROOT


def _differences(left: Any, right: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(left, dict) and isinstance(right, dict) and left.keys() == right.keys():
        return [d for key in left for d in _differences(left[key], right[key], f"{path}/{key}")]
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [
            d
            for i, (a, b) in enumerate(zip(left, right, strict=True))
            for d in _differences(a, b, f"{path}/{i}")
        ]
    return [] if left == right else [(path, left, right)]


def test_only_addresses_and_mounted_paths_differ() -> None:
    production = yaml.safe_load(SOURCE_CONFIG.read_text())
    local = localize(copy.deepcopy(production))
    differences = _differences(production, local)
    assert differences
    for path, before, after in differences:
        if path.endswith("/socket_address/address"):
            assert after == "127.0.0.1"
        else:
            assert before.startswith("/etc/envoy/"), path
            assert after == str(ROOT / "gateway" / before.removeprefix("/etc/envoy/"))


def test_every_service_cluster_points_at_loopback_on_its_port() -> None:
    local = localize(yaml.safe_load(SOURCE_CONFIG.read_text()))
    endpoints = {
        cluster["name"]: endpoint["endpoint"]["address"]["socket_address"]
        for cluster in local["static_resources"]["clusters"]
        for group in cluster["load_assignment"]["endpoints"]
        for endpoint in group["lb_endpoints"]
    }
    assert endpoints == {
        name: {"address": "127.0.0.1", "port_value": ports[0]}
        for name, ports in SERVICE_PORTS.items()
    }
