"""A service's gRPC port speaks what the stack runs: plain text, or mutual TLS
(``CHIRP_MTLS_ENABLED``), where a caller without the mesh certificate is refused."""

from __future__ import annotations

import pytest

from devstack.components import SERVICE_PORTS
from services.platform.healthcheck import not_serving_reason
from services.platform.settings import GRPC_PORTS, MutualTlsSettings


@pytest.mark.parametrize("service", sorted(GRPC_PORTS))
def test_a_service_answers_only_callers_of_its_transport(service: str) -> None:
    address = f"127.0.0.1:{SERVICE_PORTS[service][0]}"
    mesh = MutualTlsSettings()
    plain = not_serving_reason(address, timeout_seconds=3)
    if mesh.enabled:
        assert not_serving_reason(address, timeout_seconds=3, tls=mesh) is None
        assert plain is not None
        assert "UNAVAILABLE" in plain  # the handshake refused: no call reached the service
    else:
        assert plain is None
