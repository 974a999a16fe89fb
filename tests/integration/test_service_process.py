"""A real service process: health, reflection, metrics, several workers, graceful drain."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from devstack.paths import ROOT
from services.platform.healthcheck import not_serving_reason
from tests.processes import free_port, start_service


class ServiceProcess:
    def __init__(self, tmp_path: Path, workers: int) -> None:
        self.grpc_port, self.metrics_port = free_port(), free_port()
        self.log = tmp_path / "graph.log"
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}",
            "CHIRP_DATA_DIR": str(tmp_path),
            "CHIRP_GRPC_PORT": str(self.grpc_port),
            "CHIRP_METRICS_PORT": str(self.metrics_port),
            "CHIRP_WORKERS": str(workers),
            "CHIRP_SHUTDOWN_GRACE_SECONDS": "1",
        }
        self.process = start_service("graph", env, self.log, self.address, timeout_seconds=30)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def metric(self, prefix: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
        )


@pytest.fixture
def single(tmp_path: Path) -> Iterator[ServiceProcess]:
    service = ServiceProcess(tmp_path, workers=1)
    yield service
    service.process.kill()
    service.process.wait()


def test_reflection_lists_the_service_and_health(single: ServiceProcess) -> None:
    with grpc.insecure_channel(single.address) as channel:
        reflect = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(reflect(iter([request])))
    names = {service.name for service in response.list_services_response.service}
    assert {"chirp.graph.v1.GraphService", "grpc.health.v1.Health"} <= names


def test_every_rpc_is_counted_by_its_final_code(single: ServiceProcess) -> None:
    with grpc.insecure_channel(single.address) as channel:
        stub = graph_service_pb2_grpc.GraphServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetRelationship(graph_service_pb2.GetRelationshipRequest(), timeout=5)
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    counted = 'grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",grpc_method="GetRelationship"'
    assert single.metric(counted) == 1


def test_sigterm_drains_then_exits_cleanly(single: ServiceProcess) -> None:
    single.process.send_signal(signal.SIGTERM)
    assert single.process.wait(timeout=15) == 0
    log = single.log.read_text()
    assert '"event": "draining"' in log
    assert '"event": "stopped"' in log


def test_workers_share_one_port_and_merge_their_metrics(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path, workers=2)
    try:
        for _ in range(20):  # new channels, so connections spread over both workers
            assert not_serving_reason(service.address) is None
        checks = 'grpc_server_handled_total{grpc_code="OK",grpc_method="Check"'
        assert service.metric(checks) >= 20
        # The port answers as soon as one worker serves; the other may still be wiring up.
        deadline = time.monotonic() + 30
        while service.log.read_text().count('"event": "serving"') < 2:
            assert time.monotonic() < deadline, service.log.read_text()
            time.sleep(0.2)

        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(timeout=20) == 0
    finally:
        service.process.kill()


def test_a_dead_worker_stops_the_service_with_an_error(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path, workers=2)
    try:
        worker_pids = subprocess.run(
            ["pgrep", "-P", str(service.process.pid)], capture_output=True, text=True, check=True
        ).stdout.split()
        os.kill(int(worker_pids[-1]), signal.SIGKILL)
        assert service.process.wait(timeout=20) == 1
        assert "worker died" in service.log.read_text()
    finally:
        service.process.kill()
