"""The gateway's local configuration: production's ``gateway/envoy.yaml`` with local addresses.

Compose runs ``gateway/envoy.yaml`` as it is, with the services at their compose host names. The
local stack runs the very same file with each cluster pointed at 127.0.0.1, the descriptor set
(and the OpenAPI document) read from the work tree, the HTTPS listener's certificate from the
local authority (``devstack/tls.py``), the browser origins CORS allows taken from
``CHIRP_CORS_ORIGINS``, the share of requests traced from ``CHIRP_TRACING_*``, no HSTS
header (it would hold every port of localhost to HTTPS in a developer's browser), and mutual
TLS with the services only when the local stack runs it (``CHIRP_MTLS_ENABLED``), so the two
can never drift apart.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from typing import Any

from devstack import tls
from devstack.paths import DATA, ROOT
from services.platform.settings import TracingSettings

SOURCE_CONFIG = ROOT / "gateway" / "envoy.yaml"
LOCAL_CONFIG = DATA / "envoy" / "envoy.yaml"
CONTAINER_GATEWAY_DIR = "/etc/envoy"
#: Compose's secrets in the gateway's container, and the local files that stand for them.
LOCAL_SECRETS = {
    "/run/secrets/gateway_tls_certificate": tls.FILES.gateway.certificate,
    "/run/secrets/gateway_tls_key": tls.FILES.gateway.key,
    "/run/secrets/mesh_ca": tls.FILES.ca,
    "/run/secrets/mesh_certificate": tls.FILES.mesh.certificate,
    "/run/secrets/mesh_key": tls.FILES.mesh.key,
}
#: The HTTP filter that adds HSTS to answers over HTTPS (production's only).
HSTS_FILTER = "chirp.hsts"
#: Comma-separated origins that browser pages may call the local gateway from.
CORS_ORIGINS_ENV = "CHIRP_CORS_ORIGINS"
LOCAL_CORS_ORIGINS = "http://localhost:3000,http://127.0.0.1:3000"


def localize(
    config: dict[str, Any],
    cors_origins: str | None = None,
    replicas: Mapping[int, Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Rewrites addresses, file paths and CORS origins (``cors_origins``, comma-separated, or
    else ``CHIRP_CORS_ORIGINS`` or the local defaults) for the local stack, in place, and returns
    the config. ``replicas`` maps a service's port to its port on each of its processes (the
    cluster shape's): an endpoint on that port becomes one endpoint per process."""
    mesh_tls = tls.local_mtls().enabled
    for cluster in config["static_resources"]["clusters"]:
        for endpoints in cluster["load_assignment"]["endpoints"]:
            endpoints["lb_endpoints"] = [
                _at(endpoint, port)
                for endpoint in endpoints["lb_endpoints"]
                for port in (replicas or {}).get(_port(endpoint), [_port(endpoint)])
            ]
        if not mesh_tls:
            cluster.pop("transport_socket", None)  # the services' ports are plain text
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"]["address"] = "127.0.0.1"
    config["admin"]["address"]["socket_address"]["address"] = "127.0.0.1"
    origins = cors_origins or os.environ.get(CORS_ORIGINS_ENV) or LOCAL_CORS_ORIGINS
    cors_policy(config)["allow_origin_string_match"] = [
        {"exact": origin.strip()} for origin in origins.split(",") if origin.strip()
    ]
    manager = gateway_manager(config)
    _trace_as_the_services_do(manager)
    manager["http_filters"] = [f for f in manager["http_filters"] if f["name"] != HSTS_FILTER]
    localized: dict[str, Any] = _replace_paths(config)
    return localized


def _trace_as_the_services_do(manager: dict[str, Any]) -> None:
    """The share of requests the gateway traces, from the services' own tracing settings
    (``CHIRP_TRACING_*``): none when tracing is off."""
    tracing = TracingSettings()
    if not tracing.enabled:
        manager.pop("tracing", None)
    elif "tracing" in manager:
        manager["tracing"]["random_sampling"] = {"value": tracing.sample_ratio * 100}


def _at(endpoint: dict[str, Any], port: int) -> dict[str, Any]:
    """A copy of ``endpoint`` at 127.0.0.1:``port``."""
    moved = copy.deepcopy(endpoint)
    moved["endpoint"]["address"]["socket_address"].update(address="127.0.0.1", port_value=port)
    return moved


def _port(endpoint: dict[str, Any]) -> int:
    port: int = endpoint["endpoint"]["address"]["socket_address"]["port_value"]
    return port


def gateway_manager(config: dict[str, Any]) -> dict[str, Any]:
    """The gateway's HTTP connection manager configuration: one for HTTP and HTTPS alike (the
    HTTPS listener names the HTTP one's, a YAML alias)."""
    listeners = config["static_resources"]["listeners"]
    (listener,) = (each for each in listeners if each["name"] == "gateway")
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def plain_http_only(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with its plain HTTP listener alone, in place: for a second gateway beside the
    stack's (a test's, a benchmark's), which must not share the stack's HTTPS port."""
    listeners = config["static_resources"]["listeners"]
    listeners[:] = [listener for listener in listeners if listener["name"] == "gateway"]
    return config


def cors_policy(config: dict[str, Any]) -> dict[str, Any]:
    (virtual_host,) = gateway_manager(config)["route_config"]["virtual_hosts"]
    policy: dict[str, Any] = virtual_host["typed_per_filter_config"]["envoy.filters.http.cors"]
    return policy


def _replace_paths(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _replace_paths(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_paths(value) for value in node]
    if isinstance(node, str) and node in LOCAL_SECRETS:
        return str(LOCAL_SECRETS[node])
    if isinstance(node, str) and node.startswith(CONTAINER_GATEWAY_DIR + "/"):
        return str(ROOT / "gateway" / node.removeprefix(CONTAINER_GATEWAY_DIR + "/"))
    return node


def write_local_config(replicas: Mapping[int, Sequence[int]] | None = None) -> None:
    """Writes the local config, and makes the HTTPS listener's certificate files it names
    where they are missing or due."""
    import yaml  # noqa: PLC0415  (from the virtualenv)

    tls.ensure()

    config = localize(yaml.safe_load(SOURCE_CONFIG.read_text()), replicas=replicas)
    LOCAL_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    LOCAL_CONFIG.write_text(yaml.safe_dump(config, sort_keys=False))
