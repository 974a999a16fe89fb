"""Starts a Chirp service that speaks HTTP rather than gRPC (the Mastodon API): the aiohttp
server, metrics, logging, graceful drain, on uvloop like the gRPC services (``server.py``).

A service provides its *wiring*: an async context manager that connects its adapters, yields
the ``aiohttp.web.Application`` to serve, and closes the adapters once the server has drained.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus

import structlog
import uvloop
from aiohttp import web
from prometheus_client import start_http_server

from services.platform import mtls, tracing
from services.platform.background import until_stopped
from services.platform.healthcheck import HEALTH_PATH
from services.platform.interceptors import REQUEST_ID_HEADER
from services.platform.logging import configure_logging
from services.platform.settings import ServiceName, Settings, load_settings
from services.platform.tracing import configure_tracing

log = structlog.get_logger()

HttpWiring = Callable[[Settings], AbstractAsyncContextManager[web.Application]]
#: What an aiohttp middleware calls on.
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def run_http_service(name: ServiceName) -> None:
    """Entry point of ``python -m services.<name>`` for an HTTP service (one process)."""
    settings = load_settings(name)
    configure_logging(name, settings.log_level)
    configure_tracing(name, settings.tracing)
    if settings.workers != 1:
        raise ValueError(f"the {name} service runs one process (CHIRP_WORKERS=1)")
    wiring: HttpWiring = importlib.import_module(f"services.{name}.wiring").wiring
    start_http_server(settings.bound_metrics_port, addr=settings.grpc_host)
    uvloop.run(serve_http(settings, wiring))


async def serve_http(settings: Settings, wiring: HttpWiring) -> None:
    """Serves until SIGTERM or SIGINT, then stops taking connections and lets the requests in
    flight finish (``shutdown_grace_seconds``)."""
    async with wiring(settings) as app:
        serving = True

        async def health(_request: web.Request) -> web.Response:
            return web.Response(
                text="SERVING" if serving else "NOT_SERVING", status=200 if serving else 503
            )

        app.router.add_get(HEALTH_PATH, health)
        async with http_site(app, settings, settings.bound_http_port):
            await until_stopped()
            log.info("draining", grace_seconds=settings.shutdown_grace_seconds)
            serving = False
    log.info("stopped")


@contextlib.asynccontextmanager
async def http_site(app: web.Application, settings: Settings, port: int) -> AsyncIterator[None]:
    """Serves ``app`` on ``port`` for the life of the context, then lets the requests in flight
    finish (``shutdown_grace_seconds``). The port is shared by every worker process of a
    service (``SO_REUSEPORT``), as gRPC's is; over mutual TLS when the services speak it
    (``CHIRP_MTLS_*``)."""
    app.middlewares.insert(0, request_context)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_grace_seconds)
    await runner.setup()
    try:
        secure = mtls.server_ssl_context(settings.mtls) if settings.mtls.enabled else None
        await web.TCPSite(
            runner, settings.grpc_host, port, reuse_port=True, ssl_context=secure
        ).start()
        log.info("serving http", address=f"{settings.grpc_host}:{port}", pid=os.getpid())
        yield
    finally:
        await runner.cleanup()


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What ``RequestContextInterceptor`` is to a gRPC server: continues the caller's trace (a
    server span of it, or a new trace), binds the request id and the trace id to every log line,
    and writes one canonical log line per request (health checks at debug level)."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    started = time.perf_counter()
    status = 500
    with tracing.server_span(
        f"{request.method} {route}",
        request.headers,
        request.headers.get(REQUEST_ID_HEADER),
        {"http.request.method": request.method, "http.route": route},
    ) as span:
        try:
            response = await handler(request)
        except web.HTTPException as answer:
            status = answer.status
            raise
        else:
            status = response.status
            return response
        finally:
            span.set_attribute("http.response.status_code", status)
            if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                tracing.failed(span, RuntimeError(f"HTTP {status}"))
            emit = log.debug if request.path == HEALTH_PATH else log.info
            emit(
                "http",
                method=request.method,
                route=route,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
