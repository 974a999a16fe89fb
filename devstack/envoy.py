"""The gateway's local configuration: production's ``gateway/envoy.yaml`` with local addresses.

Compose runs ``gateway/envoy.yaml`` as it is, with the services at their compose host names. The
local stack runs the very same file with each cluster pointed at 127.0.0.1 and the descriptor
set read from the work tree, so the two can never drift apart.
"""

from __future__ import annotations

from typing import Any

from devstack.paths import DATA, ROOT

SOURCE_CONFIG = ROOT / "gateway" / "envoy.yaml"
LOCAL_CONFIG = DATA / "envoy" / "envoy.yaml"
CONTAINER_GATEWAY_DIR = "/etc/envoy"


def localize(config: dict[str, Any]) -> dict[str, Any]:
    """Rewrites addresses and file paths for the local stack, in place, and returns the config."""
    for cluster in config["static_resources"]["clusters"]:
        for endpoints in cluster["load_assignment"]["endpoints"]:
            for endpoint in endpoints["lb_endpoints"]:
                endpoint["endpoint"]["address"]["socket_address"]["address"] = "127.0.0.1"
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"]["address"] = "127.0.0.1"
    config["admin"]["address"]["socket_address"]["address"] = "127.0.0.1"
    localized: dict[str, Any] = _replace_paths(config)
    return localized


def _replace_paths(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _replace_paths(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_paths(value) for value in node]
    if isinstance(node, str) and node.startswith(CONTAINER_GATEWAY_DIR + "/"):
        return str(ROOT / "gateway" / node.removeprefix(CONTAINER_GATEWAY_DIR + "/"))
    return node


def write_local_config() -> None:
    import yaml  # noqa: PLC0415  (from the virtualenv)

    config = localize(yaml.safe_load(SOURCE_CONFIG.read_text()))
    LOCAL_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    LOCAL_CONFIG.write_text(yaml.safe_dump(config, sort_keys=False))
