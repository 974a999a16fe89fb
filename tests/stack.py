"""Where the tests find the local stack they run against (``make test`` starts it), and how they
reach a service directly."""

from __future__ import annotations

import grpc
import httpx

from services.platform import mtls
from services.platform.channels import target
from services.platform.settings import MutualTlsSettings

#: The local stack's gateway (Envoy).
GATEWAY = "http://127.0.0.1:8080"
#: The same gateway over HTTPS, certified by the local authority (``devstack/tls.py``).
GATEWAY_TLS = "https://localhost:8443"


def direct_channel(address: str) -> grpc.Channel:
    """A blocking channel straight to a service's gRPC port, as the stack serves it: over
    mutual TLS with the mesh certificate when the stack runs that (``CHIRP_MTLS_ENABLED``),
    else in plain text."""
    return mtls.blocking_channel(target(address), MutualTlsSettings())


def direct_get(port: int, path: str) -> httpx.Response:
    """``GET path`` straight from an HTTP service's port on this machine, as the stack serves
    it: over mutual TLS with the mesh certificate when it runs that, else plain HTTP."""
    mesh = MutualTlsSettings()
    if mesh.enabled:
        with httpx.Client(verify=mtls.client_ssl_context(mesh), timeout=5) as client:
            return client.get(
                f"https://127.0.0.1:{port}{path}", extensions={"sni_hostname": mesh.server_name}
            )
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
