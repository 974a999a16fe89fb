"""Mutual TLS between services (``CHIRP_MTLS_*``, ``settings.MutualTlsSettings``): the
credentials a service serves its gRPC port with, and those it calls other services with.

An HTTP service (the Mastodon API, media's bytes) serves TLS the same way
(``server_ssl_context``). Both sides prove themselves with a certificate of one authority: a
server refuses the handshake of a caller without one (gRPC then answers the caller UNAVAILABLE
before any call is made), and a caller refuses a server whose certificate is not the authority's
or does not carry the mesh's name.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from services.platform.settings import MutualTlsSettings


def _read(path: Path | None) -> bytes:
    return _path(path).read_bytes()


def server_credentials(settings: MutualTlsSettings) -> grpc.ServerCredentials:
    """TLS with this service's certificate, callers required to present the authority's."""
    return grpc.ssl_server_credentials(
        [(_read(settings.key_file), _read(settings.certificate_file))],
        root_certificates=_read(settings.ca_file),
        require_client_auth=True,
    )


def channel_credentials(settings: MutualTlsSettings) -> grpc.ChannelCredentials:
    """TLS trusting the authority alone, presenting this service's certificate."""
    return grpc.ssl_channel_credentials(
        root_certificates=_read(settings.ca_file),
        private_key=_read(settings.key_file),
        certificate_chain=_read(settings.certificate_file),
    )


def channel_options(settings: MutualTlsSettings) -> list[tuple[str, str]]:
    """The name a server's certificate must carry, whatever address it was reached at."""
    return [("grpc.ssl_target_name_override", settings.server_name)]


def blocking_channel(target: str, settings: MutualTlsSettings | None) -> grpc.Channel:
    """A blocking channel to ``target`` (a health check's, a tool's): over mutual TLS when
    ``settings`` is on, else in plain text."""
    if settings is not None and settings.enabled:
        return grpc.secure_channel(
            target, channel_credentials(settings), options=channel_options(settings)
        )
    return grpc.insecure_channel(target)


def server_ssl_context(settings: MutualTlsSettings) -> ssl.SSLContext:
    """What an HTTP service serves with: its certificate, callers required to present the
    authority's (TLS 1.2 at least)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=settings.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(_path(settings.certificate_file), _path(settings.key_file))
    return context


def client_ssl_context(settings: MutualTlsSettings) -> ssl.SSLContext:
    """What calls an HTTP service with (the health check): this service's certificate,
    trusting the authority alone; the server's name to check is ``settings.server_name``."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.ca_file)
    context.load_cert_chain(_path(settings.certificate_file), _path(settings.key_file))
    return context


def _path(path: Path | None) -> Path:
    if path is None:
        raise ValueError("mutual TLS is on, and a file of it is not named")
    return path
