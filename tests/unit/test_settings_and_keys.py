"""Settings validation and the development key pair."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from services.platform.auth import ensure_dev_key_pair, load_public_key
from services.platform.settings import GRPC_PORTS, METRICS_PORTS, Settings, StoreSettings


def test_each_service_has_its_own_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHIRP_GRPC_PORT", raising=False)
    monkeypatch.delenv("CHIRP_METRICS_PORT", raising=False)
    ports = {
        (Settings(service=name).bound_grpc_port, Settings(service=name).bound_metrics_port)
        for name in GRPC_PORTS
    }
    assert len(ports) == len(GRPC_PORTS)
    assert Settings(service="tweets").bound_grpc_port == 50052
    assert METRICS_PORTS["media"] == 9106


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIRP_GRPC_PORT", "6000")
    monkeypatch.setenv("CHIRP_CASSANDRA_HOSTS", "a, b,")
    settings = Settings(service="users")
    assert settings.bound_grpc_port == 6000
    assert settings.cassandra_contact_points == ["a", "b"]


def test_each_concern_reads_its_own_variables_and_validates_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variables = {
        "CHIRP_CELEBRITY_FOLLOWER_THRESHOLD": "5",
        "CHIRP_TIMELINE_LENGTH": "50",
        "CHIRP_RATE_LIMIT_POSTS": "3",
        "CHIRP_MEDIA_MAX_PIXELS": "1000",
        "CHIRP_S3_BUCKET": "photos",
        "CHIRP_SEARCH_COMMIT_SECONDS": "2",
        "CHIRP_SEARCH_ADDR": "search:50055",
        "CHIRP_TRENDS_RECOMPUTE_SECONDS": "1",
        "CHIRP_SESSION_TTL_SECONDS": "600",
        "CHIRP_JWT_ISSUER": "chirp-test",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings = Settings(service="search")
    assert settings.timelines.celebrity_follower_threshold == 5
    assert settings.timelines.length == 50
    assert settings.limits.posts == 3
    assert settings.media.max_pixels == 1000
    assert settings.s3.bucket == "photos"
    assert (settings.search.commit_seconds, settings.search_addr) == (2, "search:50055")
    assert settings.trends.recompute_seconds == 1
    assert settings.sessions.ttl_seconds == 600
    assert settings.tokens.issuer == "chirp-test"
    monkeypatch.setenv("CHIRP_TIMELINE_LENGTH", "0")
    with pytest.raises(ValidationError, match="length"):
        Settings(service="timelines")


def test_bad_values_are_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIRP_WORKERS", "0")
    with pytest.raises(ValidationError, match="workers"):
        Settings(service="users")


def test_production_refuses_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIRP_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="CHIRP_JWT_PUBLIC_KEY_FILE"):
        Settings(service="users")
    monkeypatch.setenv("CHIRP_JWT_PUBLIC_KEY_FILE", "/run/secrets/jwt.pub.pem")
    with pytest.raises(ValidationError, match="CHIRP_NEO4J_PASSWORD"):
        Settings(service="users")
    monkeypatch.setenv("CHIRP_NEO4J_PASSWORD", "s3cret-from-a-vault")
    assert Settings(service="users").public_key_path == Path("/run/secrets/jwt.pub.pem")


def test_racing_processes_share_one_key_pair(tmp_path: Path) -> None:
    private, public = tmp_path / "keys" / "k.pem", tmp_path / "keys" / "k.pub.pem"
    threads = [
        threading.Thread(target=ensure_dev_key_pair, args=(private, public)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first = public.read_bytes()
    ensure_dev_key_pair(private, public)
    assert public.read_bytes() == first
    assert private.stat().st_mode & 0o777 == 0o600
    load_public_key(public)  # a valid Ed25519 key


def test_a_non_ed25519_key_is_refused(tmp_path: Path) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = tmp_path / "ec.pub.pem"
    path.write_bytes(
        other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(TypeError, match="not an Ed25519"):
        load_public_key(path)


def test_the_nats_url_lists_one_server_or_a_clusters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHIRP_NATS_URL", raising=False)
    assert StoreSettings().nats_servers == ["nats://127.0.0.1:4222"]
    monkeypatch.setenv("CHIRP_NATS_URL", " nats://a:4222, nats://b:4223,,nats://c:4224 ")
    assert StoreSettings().nats_servers == ["nats://a:4222", "nats://b:4223", "nats://c:4224"]
    monkeypatch.setenv("CHIRP_NATS_URL", " , ")
    with pytest.raises(ValidationError, match="CHIRP_NATS_URL lists no server"):
        StoreSettings()


def test_nats_replicas_are_one_unless_set_and_between_one_and_five(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHIRP_NATS_REPLICAS", raising=False)
    assert StoreSettings().nats_replicas == 1
    for replicas in (1, 3, 5):
        monkeypatch.setenv("CHIRP_NATS_REPLICAS", str(replicas))
        assert Settings(service="timelines").nats_replicas == replicas
    for refused in ("0", "6", "three"):
        monkeypatch.setenv("CHIRP_NATS_REPLICAS", refused)
        with pytest.raises(ValidationError, match="nats_replicas"):
            StoreSettings()
