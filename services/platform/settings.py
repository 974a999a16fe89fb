"""Typed settings from ``CHIRP_*`` environment variables, validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["users", "tweets", "graph", "timelines", "search", "media"]

#: gRPC port of each service; its Prometheus port is the same index in the 9101.. range.
GRPC_PORTS: dict[ServiceName, int] = {
    "users": 50051,
    "tweets": 50052,
    "graph": 50053,
    "timelines": 50054,
    "search": 50055,
    "media": 50056,
}
METRICS_PORTS: dict[ServiceName, int] = {
    name: 9101 + index for index, name in enumerate(GRPC_PORTS)
}
#: The local MinIO's secret key (devstack starts it with this); refused in production.
DEV_S3_SECRET_KEY = "chirp-dev-secret"  # noqa: S105 (a dev default, refused in production)


class StoreSettings(BaseSettings):
    """Where the stores are, and how loudly to log: all a one-shot tool like ``migrate`` needs.

    Defaults describe the local stack that ``make run`` starts.
    """

    model_config = SettingsConfigDict(env_prefix="CHIRP_", frozen=True, extra="ignore")

    environment: Literal["dev", "test", "production"] = "dev"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    data_dir: Path = Path(".data")

    cassandra_hosts: str = "127.0.0.1"
    cassandra_port: int = 9042
    cassandra_keyspace: str = "chirp"
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = ""
    neo4j_password: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    nats_url: str = "nats://127.0.0.1:4222"

    @property
    def cassandra_contact_points(self) -> list[str]:
        return [host.strip() for host in self.cassandra_hosts.split(",") if host.strip()]


class Settings(StoreSettings):
    """Everything a service reads from its environment.

    Production (compose) sets ``CHIRP_ENVIRONMENT=production`` and must then provide its own
    signing keys and store credentials: development defaults are refused there.
    """

    service: ServiceName
    grpc_host: str = "127.0.0.1"
    grpc_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)

    jwt_issuer: str = "chirp"
    jwt_public_key_file: Path | None = None
    jwt_private_key_file: Path | None = None

    users_addr: str = f"127.0.0.1:{GRPC_PORTS['users']}"
    tweets_addr: str = f"127.0.0.1:{GRPC_PORTS['tweets']}"
    graph_addr: str = f"127.0.0.1:{GRPC_PORTS['graph']}"
    timelines_addr: str = f"127.0.0.1:{GRPC_PORTS['timelines']}"
    search_addr: str = f"127.0.0.1:{GRPC_PORTS['search']}"
    media_addr: str = f"127.0.0.1:{GRPC_PORTS['media']}"

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            if self.jwt_public_key_file is None:
                raise ValueError(
                    "CHIRP_JWT_PUBLIC_KEY_FILE must be set in production: "
                    "development keys are generated locally and never trusted there"
                )
            if not self.neo4j_password:
                raise ValueError("CHIRP_NEO4J_PASSWORD must be set in production")
        return self

    @property
    def bound_grpc_port(self) -> int:
        return GRPC_PORTS[self.service] if self.grpc_port is None else self.grpc_port

    @property
    def bound_metrics_port(self) -> int:
        return METRICS_PORTS[self.service] if self.metrics_port is None else self.metrics_port

    @property
    def public_key_path(self) -> Path:
        return self.jwt_public_key_file or self.data_dir / "keys" / "jwt_ed25519.pub.pem"

    @property
    def private_key_path(self) -> Path:
        return self.jwt_private_key_file or self.data_dir / "keys" / "jwt_ed25519.pem"

    # users: how long a session token (CreateSession) is accepted after it was issued.
    session_ttl_seconds: int = Field(default=3600, ge=60, le=30 * 24 * 3600)

    # timelines (issue 5): authors with more followers than this are not fanned out on write
    # (their tweets are merged in at read time); the dev/test stack sets it to 5 (see
    # devstack/components.py) so that tests run both paths.
    celebrity_follower_threshold: int = Field(default=10_000, ge=0)
    # timelines: entries kept per home timeline (newest first), and how long a timeline stays
    # in Redis (and keeps receiving fanout) after its owner's last home read.
    timeline_length: int = Field(default=800, ge=1, le=10_000)
    timeline_active_days: int = Field(default=30, ge=1)

    # media (issue 8): the S3-compatible object store (MinIO locally, with the dev credentials
    # devstack gives it; production must set its own), the bucket created on start if missing,
    # and the rules of uploads. Media URLs are absolute: the public base URL is the gateway
    # locally, a CDN in front of it in production.
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_region: str = "us-east-1"
    s3_access_key: str = "chirp"
    s3_secret_key: str = DEV_S3_SECRET_KEY
    s3_bucket: str = "chirp-media"
    media_public_base_url: str = "http://localhost:8080"
    media_max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # Decoded pixels an upload may have (all frames together): decompression bombs are 400.
    media_max_pixels: int = Field(default=40_000_000, ge=1)
    media_thumbnail_pixels: int = Field(default=400, ge=16)
    # Uploads never attached to a tweet are removed this long after upload, by a sweep that
    # runs this often in every media process.
    media_unattached_ttl_seconds: float = Field(default=24 * 3600, gt=0)
    media_cleanup_interval_seconds: float = Field(default=600, gt=0)

    @model_validator(mode="after")
    def _refuse_dev_s3_secret_in_production(self) -> Settings:
        dev_secret = self.s3_secret_key == DEV_S3_SECRET_KEY
        if self.environment == "production" and self.service == "media" and dev_secret:
            raise ValueError("CHIRP_S3_SECRET_KEY must be set in production")
        return self

    @property
    def grpc_max_receive_bytes(self) -> int:
        """gRPC's 4 MiB default; on media, room for a whole upload and its envelope."""
        default = 4 * 1024 * 1024
        if self.service != "media":
            return default
        return max(default, self.media_max_upload_bytes + 64 * 1024)

    # edge (issue 7): per-account limits the services keep on Redis, as "at most N per window"
    # (services/platform/ratelimit.py); the gateway adds per-address and per-account request
    # limits of its own (gateway/envoy.yaml). gateway/README.md has the table of all of them.
    rate_limit_sign_ins: int = Field(default=10, ge=1)  # log-in attempts, per username
    rate_limit_sign_in_window_seconds: int = Field(default=300, ge=1)
    rate_limit_posts: int = Field(default=300, ge=1)  # tweets, retweets aside, per account
    rate_limit_post_window_seconds: int = Field(default=3 * 3600, ge=1)
    rate_limit_follows: int = Field(default=400, ge=1)  # follows, per account
    rate_limit_follow_window_seconds: int = Field(default=24 * 3600, ge=1)
    rate_limit_uploads: int = Field(default=30, ge=1)  # media uploads, per account
    rate_limit_upload_window_seconds: int = Field(default=30 * 60, ge=1)

    # search (issue 6): the Tantivy indexes live in data_dir/"search"; the indexer commits (and
    # then acknowledges) at most every search_commit_seconds, so a change is searchable within
    # about a second. See services/search/README.md.
    search_commit_seconds: float = Field(default=0.5, gt=0, le=10)
    search_writer_heap_mb: int = Field(default=64, ge=16, le=4096)
    # search: trends count distinct authors per bucket; a term trends when its authors in the
    # window (the last trends_window_buckets buckets) well exceed its baseline (the
    # trends_baseline_buckets before the window). The dev/test stack makes the recompute
    # interval 1 s (devstack/components.py).
    trends_bucket_seconds: int = Field(default=60, ge=1)
    trends_window_buckets: int = Field(default=5, ge=1)
    trends_baseline_buckets: int = Field(default=60, ge=1)
    trends_min_authors: int = Field(default=5, ge=1)
    trends_min_expected: float = Field(default=1.0, gt=0)
    trends_min_score: float = Field(default=1.0, ge=0)
    trends_peak_half_life_seconds: float = Field(default=600.0, gt=0)
    trends_recompute_seconds: float = Field(default=10.0, gt=0, le=3600)


def load_settings(service: ServiceName) -> Settings:
    """Reads the environment for ``service``; raises ``pydantic.ValidationError`` on bad values."""
    return Settings(service=service)
