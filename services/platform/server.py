"""Starts a Chirp service: the gRPC server, health, reflection, metrics, logging, graceful drain.

A service provides only its *wiring*: an async context manager that connects its adapters,
yields the servicers to register, and closes the adapters when the server has drained.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, aclosing
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import grpc
import structlog
import uvloop
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, multiprocess, start_http_server

from services.platform import mtls
from services.platform.auth import TokenVerifier, ensure_dev_key_pair, load_public_key
from services.platform.background import in_background, until_stopped
from services.platform.interceptors import default_interceptors
from services.platform.logging import configure_logging
from services.platform.redis_clients import resp_client
from services.platform.revocations import REVOKED
from services.platform.settings import ServiceName, Settings, load_settings
from services.platform.tracing import configure_tracing

log = structlog.get_logger()


class MethodAwarePool:
    """The descriptor pool as server reflection sees it, where a method's full name
    (``pkg.Service.Method``, what ghz asks for) also finds its file: protobuf's upb pool only
    finds files by message, enum, service and extension names."""

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self._pool = pool

    def FindFileContainingSymbol(self, symbol: str) -> FileDescriptor:
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            return self._pool.FindMethodByName(symbol).containing_service.file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


@dataclass(frozen=True)
class Registration:
    """One gRPC service to serve: its full name (for health and reflection) and how to add it."""

    service_name: str
    add_to_server: Callable[[grpc.aio.Server], None]


Wiring = Callable[[Settings], AbstractAsyncContextManager[Sequence[Registration]]]


def load_wiring(name: ServiceName) -> Wiring:
    """``services/<name>/wiring.py``'s ``wiring``, found by name so worker processes can too."""
    wiring: Wiring = importlib.import_module(f"services.{name}.wiring").wiring
    return wiring


def run_service(name: ServiceName) -> None:
    """Entry point of ``python -m services.<name>``: one process, or ``CHIRP_WORKERS`` of them,
    each on uvloop (measured: about a quarter less CPU per GetTweet, and a sixth less per home
    read, than asyncio's own loop)."""
    settings = load_settings(name)
    configure_logging(name, settings.log_level)
    if settings.environment != "production":
        ensure_dev_key_pair(settings.private_key_path, settings.public_key_path)
    if settings.workers == 1:
        configure_tracing(name, settings.tracing)
        start_http_server(settings.bound_metrics_port, addr=settings.grpc_host)
        uvloop.run(serve(settings, load_wiring(name)))
    else:
        _run_workers(settings)


Interceptors = Callable[[TokenVerifier], list[grpc.aio.ServerInterceptor]]


async def serve(
    settings: Settings,
    wiring: Wiring,
    interceptors: Interceptors = default_interceptors,
) -> None:
    """Serves until SIGTERM or SIGINT, then drains: NOT_SERVING first, then a graceful stop.
    (``interceptors`` other than the default are for benchmarks that measure them.)"""
    verifier = TokenVerifier(
        load_public_key(settings.public_key_path), settings.tokens.issuer, REVOKED
    )
    server = grpc.aio.server(
        interceptors=interceptors(verifier),
        # Several worker processes share one port; the kernel spreads connections over them.
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", settings.grpc_max_receive_bytes),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    async with (
        aclosing(resp_client(settings.redis_url)) as revocations_redis,
        in_background(partial(REVOKED.follow, revocations_redis)),
        wiring(settings) as registrations,
    ):
        for registration in registrations:
            registration.add_to_server(server)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        served = [registration.service_name for registration in registrations]
        reflection.enable_server_reflection(
            [
                *served,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
            # Duck-typed: reflection only calls the pool's Find* methods.
            pool=cast("descriptor_pool.DescriptorPool", MethodAwarePool(descriptor_pool.Default())),
        )
        address = f"{settings.grpc_host}:{settings.bound_grpc_port}"
        if settings.mtls.enabled:
            server.add_secure_port(address, mtls.server_credentials(settings.mtls))
        else:
            server.add_insecure_port(address)
        await server.start()
        for service_name in ["", *served]:
            await health_servicer.set(service_name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", address=address, services=served, pid=os.getpid())

        await until_stopped()

        log.info("draining", grace_seconds=settings.shutdown_grace_seconds)
        await health_servicer.enter_graceful_shutdown()
        await server.stop(settings.shutdown_grace_seconds)
    log.info("stopped")


def _worker_main(name: ServiceName) -> None:
    settings = load_settings(name)
    configure_logging(name, settings.log_level)
    configure_tracing(name, settings.tracing)
    uvloop.run(serve(settings, load_wiring(name)))


def _run_workers(settings: Settings) -> None:
    """Runs ``settings.workers`` processes on one port and serves their merged metrics.

    If any worker dies, the others are stopped and the parent exits non-zero, so whatever
    supervises the service sees the failure instead of a silently shrunken pool.
    """
    metrics_dir = settings.data_dir / "run" / "metrics" / f"{settings.service}-{os.getpid()}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(settings.bound_metrics_port, addr=settings.grpc_host, registry=registry)

    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_worker_main, args=(settings.service,), name=f"{settings.service}-{i}")
        for i in range(settings.workers)
    ]
    for worker in workers:
        worker.start()
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    while any(worker.is_alive() for worker in workers):
        multiprocessing.connection.wait([worker.sentinel for worker in workers], timeout=1.0)
        for worker in workers:
            if not stopping and not worker.is_alive():
                log.error(
                    "worker died; stopping the others", worker=worker.name, exitcode=worker.exitcode
                )
                exit_code = 1
                stop(signal.SIGTERM, None)
    shutil.rmtree(metrics_dir, ignore_errors=True)
    sys.exit(exit_code)
