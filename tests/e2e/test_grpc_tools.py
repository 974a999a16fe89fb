"""The services as a gRPC tool sees them: grpcurl discovers them through server reflection."""

from __future__ import annotations

import json
import subprocess

import pytest

from devstack.components import SERVICE_PORTS
from devstack.install import GO_BIN
from services.platform.settings import GRPC_PORTS


def _grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GO_BIN / "grpcurl"), "-plaintext", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("service", sorted(GRPC_PORTS))
def test_grpcurl_lists_each_service_by_reflection(service: str) -> None:
    result = _grpcurl(f"127.0.0.1:{SERVICE_PORTS[service][0]}", "list")
    assert result.returncode == 0, result.stderr
    assert f"chirp.{service}.v1.{service.capitalize()}Service" in result.stdout.split()
    assert "grpc.health.v1.Health" in result.stdout.split()


def test_grpcurl_calls_a_method_described_by_reflection() -> None:
    port = SERVICE_PORTS["search"][0]
    described = _grpcurl(f"127.0.0.1:{port}", "describe", "chirp.search.v1.SearchService")
    assert "rpc ListTrends ( .chirp.search.v1.ListTrendsRequest )" in described.stdout
    assert 'option (.google.api.http) = { get: "/v1/trends" }' in described.stdout
    called = _grpcurl("-d", "{}", f"127.0.0.1:{port}", "chirp.search.v1.SearchService/ListTrends")
    assert called.returncode == 0, called.stderr
    assert isinstance(json.loads(called.stdout).get("trends", []), list)  # {} when none trend
    refused = _grpcurl(
        "-d", '{"pageSize": -1}', f"127.0.0.1:{port}", "chirp.search.v1.SearchService/ListTrends"
    )
    assert refused.returncode != 0
    assert "Code: InvalidArgument" in refused.stderr


def test_ghz_loads_a_method_by_reflection_alone() -> None:
    """ghz asks reflection for the method's own name (``pkg.Service.Method``), not the
    service's: the servers must find a file by it."""
    call = ["--call", "chirp.tweets.v1.TweetsService/GetTweet", "-d", '{"id": "1"}']
    address = f"127.0.0.1:{SERVICE_PORTS['tweets'][0]}"
    result = subprocess.run(
        [str(GO_BIN / "ghz"), "--insecure", "--format", "json", "-n", "4", *call, address],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert report["statusCodeDistribution"] == {"NotFound": 4}, result.stdout[-2000:]
