"""A service's port speaks what the stack runs: plain text, or mutual TLS
(``CHIRP_MTLS_ENABLED``), where a caller without the mesh certificate is refused at the
handshake: the gRPC services' and the Mastodon API's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devstack.components import SERVICE_PORTS
from services.platform.healthcheck import http_not_serving_reason, not_serving_reason
from services.platform.settings import GRPC_PORTS, MutualTlsSettings

Check = Callable[[str, float, MutualTlsSettings | None], str | None]
CHECKS: dict[str, Check] = {
    **dict.fromkeys(GRPC_PORTS, not_serving_reason),
    "mastodon": http_not_serving_reason,
}


@pytest.mark.parametrize("service", sorted(CHECKS))
def test_a_service_answers_only_callers_of_its_transport(service: str) -> None:
    address, check = f"127.0.0.1:{SERVICE_PORTS[service][0]}", CHECKS[service]
    mesh = MutualTlsSettings()
    plain = check(address, 3.0, None)
    if mesh.enabled:
        assert check(address, 3.0, mesh) is None
        assert plain is not None
    else:
        assert plain is None
