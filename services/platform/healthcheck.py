"""``python -m services.platform.healthcheck [host:port]``: exit 0 when the server is SERVING.

Used by container health checks (defaulting to this container's ``CHIRP_GRPC_PORT``, or for an
HTTP service its ``CHIRP_HTTP_PORT``: ``GET /health`` answering 200) and by the local stack's
readiness probes. A container's check speaks mutual TLS when its service does
(``CHIRP_MTLS_*``), with the service's own certificate.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2

from services.platform import mtls
from services.platform.settings import MutualTlsSettings

_CHECK = "/grpc.health.v1.Health/Check"
#: What an HTTP service answers 200 on while it serves (``services/platform/http.py``).
HEALTH_PATH = "/health"


def not_serving_reason(
    address: str, timeout_seconds: float = 3.0, tls: MutualTlsSettings | None = None
) -> str | None:
    """None when the server at ``address`` reports SERVING, else what it reported instead;
    asked over mutual TLS when ``tls`` is on."""
    with mtls.blocking_channel(address, tls) as channel:
        check = channel.unary_unary(
            _CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_seconds)
        except grpc.RpcError as error:
            return f"{address}: {error}"
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)}"
    return None


def http_not_serving_reason(
    address: str, timeout_seconds: float = 3.0, tls: MutualTlsSettings | None = None
) -> str | None:
    """None when the HTTP server at ``address`` answers ``GET /health`` with 200; asked over
    mutual TLS when ``tls`` is on."""
    if tls is not None and tls.enabled:
        return _https_not_serving_reason(address, timeout_seconds, tls)
    url = f"http://{address}{HEALTH_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            return None if response.status == 200 else f"{url}: HTTP {response.status}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url}: {error}"


def _https_not_serving_reason(
    address: str, timeout_seconds: float, tls: MutualTlsSettings
) -> str | None:
    """``GET /health`` over mutual TLS, the server checked for the mesh's name (not the
    address it was reached at, which urllib would check)."""
    host, _, port = address.rpartition(":")
    request = f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    try:
        with (
            socket.create_connection((host, int(port)), timeout=timeout_seconds) as raw,
            mtls.client_ssl_context(tls).wrap_socket(raw, server_hostname=tls.server_name) as s,
        ):
            s.sendall(request.encode())
            status_line = s.makefile("rb").readline().decode(errors="replace").strip()
    except OSError as error:  # ssl.SSLError included
        return f"https://{address}{HEALTH_PATH}: {error}"
    if status_line.split()[1:2] != ["200"]:
        return f"https://{address}{HEALTH_PATH}: {status_line or 'no answer'}"
    return None


def main(argv: list[str]) -> int:
    http_port = os.environ.get("CHIRP_HTTP_PORT")
    if len(argv) > 1:
        address = argv[1]
    elif http_port:
        address = f"127.0.0.1:{http_port}"
    else:
        address = f"127.0.0.1:{os.environ.get('CHIRP_GRPC_PORT', '50051')}"
    mesh = MutualTlsSettings()
    if http_port:
        reason = http_not_serving_reason(address, tls=mesh)
    else:
        reason = not_serving_reason(address, tls=mesh)
    print(reason or f"{address}: SERVING", file=sys.stderr if reason else sys.stdout)
    return 0 if reason is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
