"""``python -m services.platform.healthcheck [host:port]``: exit 0 when the server is SERVING.

Used by container health checks (defaulting to this container's ``CHIRP_GRPC_PORT``) and by the
local stack's readiness probes.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2

_CHECK = "/grpc.health.v1.Health/Check"


def not_serving_reason(address: str, timeout_seconds: float = 3.0) -> str | None:
    """None when the server at ``address`` reports SERVING, else what it reported instead."""
    with grpc.insecure_channel(address) as channel:
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


def main(argv: list[str]) -> int:
    address = (
        argv[1] if len(argv) > 1 else f"127.0.0.1:{os.environ.get('CHIRP_GRPC_PORT', '50051')}"
    )
    reason = not_serving_reason(address)
    print(reason or f"{address}: SERVING", file=sys.stderr if reason else sys.stdout)
    return 0 if reason is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
