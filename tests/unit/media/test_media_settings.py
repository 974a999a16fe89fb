"""Media settings: production refuses the local store's secret; an upload fits a gRPC message."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.platform.settings import Settings

PRODUCTION = {
    "CHIRP_ENVIRONMENT": "production",
    "CHIRP_JWT_PUBLIC_KEY_FILE": "/run/secrets/jwt_public_key",
    "CHIRP_NEO4J_PASSWORD": "graph-secret",
}


def test_production_refuses_the_development_s3_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="CHIRP_S3_SECRET_KEY"):
        Settings(service="media")
    monkeypatch.setenv("CHIRP_S3_SECRET_KEY", "a-secret-from-the-deployment")
    assert Settings(service="media").environment == "production"


def test_the_media_server_takes_a_whole_upload() -> None:
    media = Settings(service="media")
    assert media.grpc_max_receive_bytes > media.media.max_upload_bytes
    assert Settings(service="tweets").grpc_max_receive_bytes == 4 * 1024 * 1024
