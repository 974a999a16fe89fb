"""The local gateway runs production's Envoy configuration with only addresses, paths and CORS
origins changed."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from devstack.components import GATEWAY_PORT, SERVICE_PORTS
from devstack.envoy import CORS_ORIGINS_ENV, SOURCE_CONFIG, cors_policy, localize
from devstack.paths import ROOT
from services.platform.settings import MediaSettings


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


def test_only_addresses_mounted_paths_and_cors_origins_differ() -> None:
    production = yaml.safe_load(SOURCE_CONFIG.read_text())
    local = localize(copy.deepcopy(production), cors_origins="http://localhost:3000")
    differences = _differences(production, local)
    assert differences
    for path, before, after in differences:
        if path.endswith("/socket_address/address"):
            assert after == "127.0.0.1"
        elif "/envoy.filters.http.cors/allow_origin_string_match" in path:
            assert cors_policy(local)["allow_origin_string_match"] == [
                {"exact": "http://localhost:3000"}
            ]
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
    # ...and the token keys are fetched from the gateway itself (GET /v1/sessions/keys), and
    # media bytes from the media service's HTTP server.
    assert endpoints == {
        "jwks": {"address": "127.0.0.1", "port_value": GATEWAY_PORT},
        "media_content": {"address": "127.0.0.1", "port_value": MediaSettings().content_port},
        **{
            name: {"address": "127.0.0.1", "port_value": ports[0]}
            for name, ports in SERVICE_PORTS.items()
        },
    }


def test_cors_origins_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CORS_ORIGINS_ENV, "https://a.example, https://b.example")
    local = localize(yaml.safe_load(SOURCE_CONFIG.read_text()))
    assert cors_policy(local)["allow_origin_string_match"] == [
        {"exact": "https://a.example"},
        {"exact": "https://b.example"},
    ]
