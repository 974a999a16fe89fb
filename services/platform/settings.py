"""Typed settings from ``CHIRP_*`` environment variables, validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["users", "tweets", "graph", "timelines", "search", "media", "mastodon"]

#: gRPC port of each gRPC service; its Prometheus port is the same index in the 9101.. range.
GRPC_PORTS: dict[ServiceName, int] = {
    "users": 50051,
    "tweets": 50052,
    "graph": 50053,
    "timelines": 50054,
    "search": 50055,
    "media": 50056,
}
#: HTTP port of each HTTP service (the Mastodon API); Prometheus ports follow the gRPC ones'.
HTTP_PORTS: dict[ServiceName, int] = {"mastodon": 8090}
METRICS_PORTS: dict[ServiceName, int] = {
    name: 9101 + index for index, name in enumerate([*GRPC_PORTS, *HTTP_PORTS])
}
#: The local object store's secret key (devstack starts SeaweedFS with it); refused in production.
DEV_S3_SECRET_KEY = "chirp-dev-secret"  # noqa: S105 (a dev default, refused in production)


#: The name every service's mesh certificate carries (``MutualTlsSettings``).
MESH_SERVER_NAME = "chirp.internal"


def comma_separated(value: str) -> list[str]:
    """The items of a comma-separated setting, blanks dropped (``"a, b,"`` is ``["a", "b"]``)."""
    return [item.strip() for item in value.split(",") if item.strip()]


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
    #: The keyspace's replication when ``migrate`` creates it; on a three-node ring,
    #: ``{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}`` (``devstack/cassandra_ring.py``).
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    #: More of the keyspace's options, as CQL (``AND`` joins them to the replication): compose
    #: gives ScyllaDB ``tablets = {'enabled': false}``, since Chirp's counters and lightweight
    #: transactions are on vnode-distributed tables (ScyllaDB's NetworkTopologyStrategy
    #: keyspaces use tablets by default, which support neither in every release).
    cassandra_keyspace_options: str = ""
    #: The datacenter whose nodes serve this process, and whose quorum LOCAL_QUORUM counts:
    #: SimpleSnitch's name (the single node's, ScyllaDB's by default), which the ring keeps.
    cassandra_local_dc: str = "datacenter1"
    #: Client encryption: every connection to a node over TLS (``StoreTlsSettings``).
    cassandra_tls: bool = False
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = ""
    neo4j_password: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: One NATS server, or a cluster's servers, comma-separated (``nats_servers``).
    nats_url: str = "nats://127.0.0.1:4222"
    #: Copies of the JetStream stream (and of its consumers, which inherit it) kept on as many
    #: servers: 1 on one server, 3 on a three-node cluster (survives the loss of any one).
    nats_replicas: int = Field(default=1, ge=1, le=5)

    @field_validator("nats_url")
    @classmethod
    def _lists_a_server(cls, url: str) -> str:
        if not comma_separated(url):
            raise ValueError("CHIRP_NATS_URL lists no server")
        return url

    @property
    def cassandra_contact_points(self) -> list[str]:
        return comma_separated(self.cassandra_hosts)

    @property
    def nats_servers(self) -> list[str]:
        """The servers of ``nats_url``, as nats-py takes them: a list (it reads a comma-separated
        string as one malformed URL)."""
        return comma_separated(self.nats_url)


def _environment(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore")


class TokenSettings(BaseSettings):
    """``CHIRP_JWT_*``: who issues access tokens, and the key pair's files (generated into the
    data folder in dev and test; production mounts its own)."""

    model_config = _environment("CHIRP_JWT_")

    issuer: str = "chirp"
    public_key_file: Path | None = None
    private_key_file: Path | None = None


class SessionSettings(BaseSettings):
    """``CHIRP_SESSION_*``: how long a session token (CreateSession) is accepted after it was
    issued."""

    model_config = _environment("CHIRP_SESSION_")

    ttl_seconds: int = Field(default=3600, ge=60, le=30 * 24 * 3600)


class AccountSettings(BaseSettings):
    """``CHIRP_ACCOUNT_*``: how long the username of a deleted account stays reserved (so no one
    can take it over to pass for the person while links and mentions of it are still around)."""

    model_config = _environment("CHIRP_ACCOUNT_")

    username_quarantine_seconds: int = Field(default=30 * 24 * 3600, ge=1)


class TimelineSettings(BaseSettings):
    """``CHIRP_TIMELINE_*``: entries kept per home timeline (newest first), and how long a
    timeline stays in Redis (and keeps receiving fanout) after its owner's last home read.
    ``CHIRP_CELEBRITY_FOLLOWER_THRESHOLD``: authors with more followers than this are not fanned
    out on write (their tweets are merged in at read time); the dev/test stack sets it to 5
    (``devstack/components.py``) so that tests run both paths."""

    model_config = _environment("CHIRP_TIMELINE_")

    length: int = Field(default=800, ge=1, le=10_000)
    active_days: int = Field(default=30, ge=1)
    celebrity_follower_threshold: int = Field(
        default=10_000,
        ge=0,
        validation_alias=AliasChoices(
            "celebrity_follower_threshold", "CHIRP_CELEBRITY_FOLLOWER_THRESHOLD"
        ),
    )


class ObjectStoreSettings(BaseSettings):
    """``CHIRP_S3_*``: the S3-compatible object store (SeaweedFS locally, with the dev credentials
    devstack gives it; production must set its own), and the bucket created on start if
    missing."""

    model_config = _environment("CHIRP_S3_")

    endpoint: str = "http://127.0.0.1:9000"
    region: str = "us-east-1"
    access_key: str = "chirp"
    secret_key: str = DEV_S3_SECRET_KEY
    bucket: str = "chirp-media"


class MediaSettings(BaseSettings):
    """``CHIRP_MEDIA_*``: the rules of uploads. Media URLs are absolute: the public base URL is
    the gateway locally, a CDN in front of it in production."""

    model_config = _environment("CHIRP_MEDIA_")

    public_base_url: str = "http://localhost:8080"
    #: The media service's HTTP server of media bytes (byte ranges, conditional requests),
    #: which the gateway sends ``GET /v1/media/{id}/content`` to.
    content_port: int = 8091
    #: A photo upload's size.
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    #: Decoded pixels an upload may have (all frames together): decompression bombs are 400.
    max_pixels: int = Field(default=40_000_000, ge=1)
    thumbnail_pixels: int = Field(default=400, ge=16)
    #: Videos (``services/media/video.py``): the upload's size, duration and longest side, the
    #: longest side served, and the limits every ffmpeg run of a transcode gets: wall-clock
    #: seconds, address space, threads.
    max_video_bytes: int = Field(default=40 * 1024 * 1024, ge=1024)
    max_video_seconds: float = Field(default=140, gt=0)
    max_video_side: int = Field(default=4096, ge=16)
    video_rendition_side: int = Field(default=1280, ge=16)
    transcode_seconds: float = Field(default=600, gt=0)
    transcode_memory_bytes: int = Field(default=3 * 1024**3, ge=256 * 1024**2)
    transcode_threads: int = Field(default=2, ge=1)
    #: Uploads never attached to a tweet are removed this long after upload, by a sweep that
    #: runs this often in every media process.
    unattached_ttl_seconds: float = Field(default=24 * 3600, gt=0)
    cleanup_interval_seconds: float = Field(default=600, gt=0)


class RateLimitSettings(BaseSettings):
    """``CHIRP_RATE_LIMIT_*``: per-account limits the services keep on Redis, as "at most N per
    window" (``services/platform/ratelimit.py``); the gateway adds per-address and per-account
    request limits of its own (``gateway/envoy.yaml``). ``gateway/README.md`` has the table of
    all of them."""

    model_config = _environment("CHIRP_RATE_LIMIT_")

    sign_ins: int = Field(default=10, ge=1)  # log-in attempts, per username
    sign_in_window_seconds: int = Field(default=300, ge=1)
    posts: int = Field(default=300, ge=1)  # tweets, retweets aside, per account
    post_window_seconds: int = Field(default=3 * 3600, ge=1)
    follows: int = Field(default=400, ge=1)  # follows, per account
    follow_window_seconds: int = Field(default=24 * 3600, ge=1)
    uploads: int = Field(default=30, ge=1)  # media uploads, per account
    upload_window_seconds: int = Field(default=30 * 60, ge=1)
    video_uploads: int = Field(default=10, ge=1)  # video uploads (also uploads), per account
    video_upload_window_seconds: int = Field(default=3600, ge=1)
    # requests to the Mastodon API, per token (or address without one), as Mastodon counts
    mastodon_requests: int = Field(default=300, ge=1)
    mastodon_request_window_seconds: int = Field(default=5 * 60, ge=1)


class SearchSettings(BaseSettings):
    """``CHIRP_SEARCH_*``: the Tantivy indexes live in data_dir/"search"; the indexer commits
    (and then acknowledges) at most every ``commit_seconds``, so a change is searchable within
    about a second. See ``services/search/README.md``."""

    model_config = _environment("CHIRP_SEARCH_")

    commit_seconds: float = Field(default=0.5, gt=0, le=10)
    #: How long likes, retweets and follows wait to be re-indexed together
    #: (``consumers/indexer.py``).
    engagement_seconds: float = Field(default=5.0, ge=0, le=30)
    writer_heap_mb: int = Field(default=64, ge=16, le=4096)
    #: Which of several search processes this is (``CHIRP_SEARCH_REPLICA``; none when it runs
    #: alone): each keeps its own index (one writer per index) in ``search/<replica>`` and reads
    #: every event through its own durable consumer, ``search-indexer-<replica>``.
    replica: str = Field(default="", pattern=r"^[a-z0-9-]*$")

    def index_dir(self, data_dir: Path) -> Path:
        return data_dir / "search" / self.replica if self.replica else data_dir / "search"


class TrendSettings(BaseSettings):
    """``CHIRP_TRENDS_*``: trends count distinct authors per bucket; a term trends when its
    authors in the window (the last ``window_buckets`` buckets) well exceed its baseline (the
    ``baseline_buckets`` before the window). The dev/test stack makes the recompute interval
    1 s (``devstack/components.py``), except in ``make bench``."""

    model_config = _environment("CHIRP_TRENDS_")

    bucket_seconds: int = Field(default=60, ge=1)
    window_buckets: int = Field(default=5, ge=1)
    baseline_buckets: int = Field(default=60, ge=1)
    min_authors: int = Field(default=5, ge=1)
    min_expected: float = Field(default=1.0, gt=0)
    min_score: float = Field(default=1.0, ge=0)
    peak_half_life_seconds: float = Field(default=600.0, gt=0)
    recompute_seconds: float = Field(default=10.0, gt=0, le=3600)


class MastodonSettings(BaseSettings):
    """``CHIRP_MASTODON_*``: the URL Mastodon clients reach the API at (the gateway): the
    links, ids of the instance and pagination headers are made from it."""

    model_config = _environment("CHIRP_MASTODON_")

    public_url: str = "http://localhost:8080"


class TracingSettings(BaseSettings):
    """``CHIRP_TRACING_*``: OpenTelemetry traces, sent over OTLP/gRPC to ``otlp_endpoint``
    (Jaeger's collector locally). ``sample_ratio`` is the share of new traces kept (a request
    that arrives with a trace, from Envoy or another service, follows its caller's decision);
    ``enabled=false`` turns tracing off: spans are then the API's no-ops."""

    model_config = _environment("CHIRP_TRACING_")

    enabled: bool = True
    otlp_endpoint: str = "http://127.0.0.1:4317"
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class StoreTlsSettings(BaseSettings):
    """``CHIRP_STORE_TLS_*``: the authority a store's certificate is checked against when the
    store is reached over TLS (``ca_file``; the system's authorities when unset). Whether a store
    is reached over TLS is said where its address is: ``rediss://`` and ``rediss+cluster://``
    for Redis, ``tls://`` for NATS, ``bolt+s://`` and ``neo4j+s://`` for Neo4j, and
    ``CHIRP_CASSANDRA_TLS`` for Cassandra. The store's name (or address) is checked against its
    certificate too (``services/platform/store_tls.py``)."""

    model_config = _environment("CHIRP_STORE_TLS_")

    ca_file: Path | None = None


class MutualTlsSettings(BaseSettings):
    """``CHIRP_MTLS_*``: calls between services over mutual TLS. With ``enabled``, a service's
    gRPC port speaks TLS only and refuses a caller without a certificate of the authority in
    ``ca_file``; it calls other services with its own certificate and key, trusting only that
    authority, and expects each to present ``server_name`` (one name for the whole mesh:
    callers reach replicas by address, which a certificate cannot list in advance)."""

    model_config = _environment("CHIRP_MTLS_")

    enabled: bool = False
    ca_file: Path | None = None
    certificate_file: Path | None = None
    key_file: Path | None = None
    server_name: str = MESH_SERVER_NAME

    @model_validator(mode="after")
    def _names_every_file(self) -> MutualTlsSettings:
        if self.enabled and None in (self.ca_file, self.certificate_file, self.key_file):
            raise ValueError(
                "CHIRP_MTLS_ENABLED needs CHIRP_MTLS_CA_FILE, CHIRP_MTLS_CERTIFICATE_FILE "
                "and CHIRP_MTLS_KEY_FILE"
            )
        return self


class Settings(StoreSettings):
    """Everything a service reads from its environment: the server's own settings here, each
    concern's in its own group (every group reads ``CHIRP_<GROUP>_*``), all validated at start.

    Production (compose) sets ``CHIRP_ENVIRONMENT=production`` and must then provide its own
    signing keys and store credentials: development defaults are refused there.
    """

    service: ServiceName
    grpc_host: str = "127.0.0.1"
    grpc_port: int | None = Field(default=None, ge=0, le=65535)
    http_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)

    users_addr: str = f"127.0.0.1:{GRPC_PORTS['users']}"
    tweets_addr: str = f"127.0.0.1:{GRPC_PORTS['tweets']}"
    graph_addr: str = f"127.0.0.1:{GRPC_PORTS['graph']}"
    timelines_addr: str = f"127.0.0.1:{GRPC_PORTS['timelines']}"
    search_addr: str = f"127.0.0.1:{GRPC_PORTS['search']}"
    media_addr: str = f"127.0.0.1:{GRPC_PORTS['media']}"

    tokens: TokenSettings = Field(default_factory=TokenSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    timelines: TimelineSettings = Field(default_factory=TimelineSettings)
    s3: ObjectStoreSettings = Field(default_factory=ObjectStoreSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    trends: TrendSettings = Field(default_factory=TrendSettings)
    mastodon: MastodonSettings = Field(default_factory=MastodonSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    mtls: MutualTlsSettings = Field(default_factory=MutualTlsSettings)

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.environment != "production":
            return self
        if self.tokens.public_key_file is None:
            raise ValueError(
                "CHIRP_JWT_PUBLIC_KEY_FILE must be set in production: "
                "development keys are generated locally and never trusted there"
            )
        if not self.neo4j_password:
            raise ValueError("CHIRP_NEO4J_PASSWORD must be set in production")
        if self.service == "media" and self.s3.secret_key == DEV_S3_SECRET_KEY:
            raise ValueError("CHIRP_S3_SECRET_KEY must be set in production")
        return self

    @property
    def bound_grpc_port(self) -> int:
        return GRPC_PORTS[self.service] if self.grpc_port is None else self.grpc_port

    @property
    def bound_http_port(self) -> int:
        return HTTP_PORTS[self.service] if self.http_port is None else self.http_port

    @property
    def bound_metrics_port(self) -> int:
        return METRICS_PORTS[self.service] if self.metrics_port is None else self.metrics_port

    @property
    def public_key_path(self) -> Path:
        return self.tokens.public_key_file or self.data_dir / "keys" / "jwt_ed25519.pub.pem"

    @property
    def private_key_path(self) -> Path:
        return self.tokens.private_key_file or self.data_dir / "keys" / "jwt_ed25519.pem"

    @property
    def grpc_max_receive_bytes(self) -> int:
        """gRPC's 4 MiB default; on media, room for a whole upload (a photo or a video) and its
        envelope, so that one too large is refused by the service, which says why."""
        default = 4 * 1024 * 1024
        if self.service != "media":
            return default
        largest = max(self.media.max_upload_bytes, self.media.max_video_bytes)
        return max(default, largest + 64 * 1024)


def load_settings(service: ServiceName) -> Settings:
    """Reads the environment for ``service``; raises ``pydantic.ValidationError`` on bad values."""
    return Settings(service=service)
