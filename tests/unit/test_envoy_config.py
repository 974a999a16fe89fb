"""The local gateway runs production's Envoy configuration with only addresses, paths, CORS
origins and the share of requests traced changed, and no HSTS."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from devstack import tls
from devstack.components import GATEWAY_PORT, SERVICE_PORTS
from devstack.envoy import (
    CORS_ORIGINS_ENV,
    HSTS_FILTER,
    LOCAL_SECRETS,
    SOURCE_CONFIG,
    cors_policy,
    gateway_manager,
    localize,
)
from devstack.monitoring import JAEGER_OTLP_PORT
from devstack.paths import ROOT
from services.platform.settings import MediaSettings, TracingSettings


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


def test_only_addresses_paths_cors_origins_and_sampling_differ() -> None:
    production = yaml.safe_load(SOURCE_CONFIG.read_text())
    local = localize(copy.deepcopy(production), cors_origins="http://localhost:3000")
    # HSTS is production's only, and mutual TLS with the services is off here: with them left
    # out, what else differs
    filters = gateway_manager(production)["http_filters"]
    gateway_manager(production)["http_filters"] = [f for f in filters if f["name"] != HSTS_FILTER]
    assert len(filters) == len(gateway_manager(production)["http_filters"]) + 1
    mesh = {
        cluster["name"]: cluster.pop("transport_socket")
        for cluster in production["static_resources"]["clusters"]
        if "transport_socket" in cluster
    }
    assert set(mesh) == {*SERVICE_PORTS, "media_content"}  # every service, media's bytes too
    differences = _differences(production, local)
    assert differences
    for path, before, after in differences:
        if path.endswith("/socket_address/address"):
            assert after == "127.0.0.1"
        elif path.endswith("/tracing/random_sampling/value"):
            assert after == TracingSettings().sample_ratio * 100
        elif "/envoy.filters.http.cors/allow_origin_string_match" in path:
            assert cors_policy(local)["allow_origin_string_match"] == [
                {"exact": "http://localhost:3000"}
            ]
        elif before in LOCAL_SECRETS:
            assert after == str(LOCAL_SECRETS[before])
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
        "otlp": {"address": "127.0.0.1", "port_value": JAEGER_OTLP_PORT},
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


def test_the_gateway_traces_as_the_services_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIRP_TRACING_SAMPLE_RATIO", "0.01")
    sampled = gateway_manager(localize(yaml.safe_load(SOURCE_CONFIG.read_text())))
    assert sampled["tracing"]["random_sampling"] == {"value": 1.0}
    assert sampled["tracing"]["provider"]["name"] == "envoy.tracers.opentelemetry"
    monkeypatch.setenv("CHIRP_TRACING_ENABLED", "false")
    assert "tracing" not in gateway_manager(localize(yaml.safe_load(SOURCE_CONFIG.read_text())))


def test_mutual_tls_with_the_services_is_kept_when_the_stack_runs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHIRP_MTLS_ENABLED", "true")
    local = localize(yaml.safe_load(SOURCE_CONFIG.read_text()))
    sockets = {
        cluster["name"]: cluster["transport_socket"]["typed_config"]["common_tls_context"]
        for cluster in local["static_resources"]["clusters"]
        if "transport_socket" in cluster
    }
    assert set(sockets) == {*SERVICE_PORTS, "media_content"}
    for context in sockets.values():
        assert context["validation_context"]["trusted_ca"] == {"filename": str(tls.FILES.ca)}
        assert context["tls_certificates"] == [
            {
                "certificate_chain": {"filename": str(tls.FILES.mesh.certificate)},
                "private_key": {"filename": str(tls.FILES.mesh.key)},
            }
        ]
