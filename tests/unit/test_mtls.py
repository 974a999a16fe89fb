"""Mutual TLS between services (``services/platform/mtls.py``), on a real in-process grpc.aio
server with certificates from ``devstack/tls.py``'s authority: a service channel and the health
check get through; a caller in plain text, without a certificate, or with another authority's
is refused, and so is a server of another authority; an HTTP service's site likewise."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pydantic
import pytest
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from devstack import tls
from services.platform import mtls
from services.platform.channels import service_channel
from services.platform.healthcheck import HEALTH_PATH, http_not_serving_reason, not_serving_reason
from services.platform.http import http_site
from services.platform.settings import MutualTlsSettings, Settings


def _mesh(directory: Path) -> MutualTlsSettings:
    """Mutual TLS with the mesh certificate of an authority made under ``directory``."""
    files = tls.ensure(tls.Files.under(directory))
    return MutualTlsSettings(
        enabled=True,
        ca_file=files.ca,
        certificate_file=files.mesh.certificate,
        key_file=files.mesh.key,
    )


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> MutualTlsSettings:
    return _mesh(tmp_path_factory.mktemp("ours"))


@pytest.fixture(scope="module")
def theirs(tmp_path_factory: pytest.TempPathFactory) -> MutualTlsSettings:
    return _mesh(tmp_path_factory.mktemp("theirs"))


async def _serving(settings: MutualTlsSettings) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", mtls.server_credentials(settings))
    await server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
async def address(ours: MutualTlsSettings) -> AsyncIterator[str]:
    server, address = await _serving(ours)
    yield address
    await server.stop(None)


async def _check(channel: grpc.aio.Channel) -> int:
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    response: health_pb2.HealthCheckResponse = await check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    return response.status


async def test_a_service_of_the_mesh_is_answered(address: str, ours: MutualTlsSettings) -> None:
    async with service_channel(address, tls=ours) as channel:
        assert await _check(channel) == health_pb2.HealthCheckResponse.SERVING
    # (the container health check: blocking, so off the loop that runs the server)
    assert await asyncio.to_thread(not_serving_reason, address, tls=ours) is None


def _refused(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    if credentials is None:
        return grpc.aio.insecure_channel(address)
    return grpc.aio.secure_channel(
        address, credentials, options=[("grpc.ssl_target_name_override", "chirp.internal")]
    )


@pytest.mark.parametrize("caller", ["plain text", "no certificate", "another authority's"])
async def test_a_caller_without_the_authoritys_certificate_is_refused(
    address: str, ours: MutualTlsSettings, theirs: MutualTlsSettings, caller: str
) -> None:
    assert ours.ca_file is not None
    credentials = {
        "plain text": None,
        "no certificate": grpc.ssl_channel_credentials(ours.ca_file.read_bytes()),
        "another authority's": mtls.channel_credentials(
            theirs.model_copy(update={"ca_file": ours.ca_file})
        ),
    }[caller]
    async with _refused(address, credentials) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _check(channel)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_server_of_another_authority_is_refused(
    ours: MutualTlsSettings, theirs: MutualTlsSettings
) -> None:
    server, address = await _serving(theirs.model_copy(update={"ca_file": ours.ca_file}))
    try:
        async with service_channel(address, tls=ours) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await _check(channel)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(None)


def test_mutual_tls_on_names_its_files() -> None:
    with pytest.raises(pydantic.ValidationError, match="CHIRP_MTLS_CA_FILE"):
        MutualTlsSettings(enabled=True)
    assert not MutualTlsSettings().enabled  # off unless turned on


@pytest.fixture
async def http_address(ours: MutualTlsSettings) -> AsyncIterator[str]:
    """An HTTP service's site (``http.http_site``) with ``/health``, over mutual TLS."""

    async def healthy(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get(HEALTH_PATH, healthy)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(service="mastodon", mtls=ours)
    async with http_site(app, settings, port):
        yield f"127.0.0.1:{port}"


async def test_an_http_service_answers_the_mesh_and_refuses_others(
    http_address: str, ours: MutualTlsSettings, theirs: MutualTlsSettings
) -> None:
    def reason(tls: MutualTlsSettings | None) -> str | None:
        return http_not_serving_reason(http_address, timeout_seconds=3, tls=tls)

    assert await asyncio.to_thread(reason, ours) is None
    assert await asyncio.to_thread(reason, None) is not None  # plain HTTP
    stranger = theirs.model_copy(update={"ca_file": ours.ca_file})
    assert await asyncio.to_thread(reason, stranger) is not None
