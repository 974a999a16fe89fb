"""The services as a gRPC tool sees them: grpcurl discovers them through server reflection
(over mutual TLS, with the mesh certificate, when the stack runs that)."""

from __future__ import annotations

import json
import subprocess

import pytest

from devstack.components import SERVICE_PORTS
from devstack.install import GO_BIN
from services.platform.settings import GRPC_PORTS, MutualTlsSettings


def _transport(flag: str) -> list[str]:
    """A Go gRPC tool's flags for the services' transport: ``flag`` (its plain-text one), or
    the mesh certificate's files with the name to expect (``-cacert``, ``-cert``, ``-key``
    and grpcurl's ``-servername``, ghz's ``--cname``), ``flag``'s dashes kept."""
    mesh = MutualTlsSettings()
    if not mesh.enabled:
        return [flag]
    dashes = flag[: len(flag) - len(flag.lstrip("-"))]
    name = "servername" if dashes == "-" else "cname"
    files = {"cacert": mesh.ca_file, "cert": mesh.certificate_file, "key": mesh.key_file}
    return [
        *(part for option, path in files.items() for part in (dashes + option, str(path))),
        dashes + name,
        mesh.server_name,
    ]


def _grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GO_BIN / "grpcurl"), *_transport("-plaintext"), *args],
        capture_output=True,
        text=True,
        check=False,
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
        [
            str(GO_BIN / "ghz"),
            *_transport("--insecure"),
            "--format",
            "json",
            "-n",
            "4",
            *call,
            address,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert report["statusCodeDistribution"] == {"NotFound": 4}, result.stdout[-2000:]
