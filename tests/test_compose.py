"""The production docker-compose.yml: valid Compose, and consistent with the project.

There is no Docker engine on the build machines, so the file is loaded by
tools/composecheck, a small Go program around compose-go, the loader `docker compose`
itself uses: schema validation, interpolation, normalization and consistency checks
(undefined volumes, secrets, depends_on targets) are those of the real thing. The tests
then hold the normalized project against the repository: the Dockerfile, the service
packages, the mounted paths, the port plan, gateway/envoy.yaml and the Prometheus config;
and against production's shape: a three-node ScyllaDB cluster, a three-node NATS cluster, a
six-node Redis Cluster, at least two processes of every service, each named to every caller.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from devstack.components import ENVOY_ADMIN_PORT, GATEWAY_PORT, GATEWAY_TLS_PORT, SERVICE_PORTS
from services.platform.resp_cluster import ClusterUrl
from services.platform.settings import GRPC_PORTS, HTTP_PORTS, MediaSettings, SearchSettings

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
TOOL_DIR = ROOT / "tools" / "composecheck"
TOOL_BINARY = ROOT / ".cache" / "bin" / "composecheck"

# Inside a container a server must listen beyond loopback to be reachable from its peers.
ALL_INTERFACES = {"0.0.0.0", "::"}  # noqa: S104
HEALTHCHECK = ["CMD", "python", "-m", "services.platform.healthcheck"]
# One-shot jobs from the same image that run to completion before the services start.
JOBS = {"migrate": "services.platform.migrate"}
# The one-shot job that makes the Redis nodes one cluster (the Redis image's redis-cli).
REDIS_CLUSTER_JOB = "redis-cluster-init"
# Each store cluster's nodes, by compose name.
SCYLLA_NODES = ("scylla-1", "scylla-2", "scylla-3")
NATS_NODES = ("nats-1", "nats-2", "nats-3")
REDIS_NODES = ("redis-1", "redis-2", "redis-3", "redis-4", "redis-5", "redis-6")
CQL_PORT = 9042
NATS_CLIENT_PORT = 4222
NATS_ROUTE_PORT = 6222
REDIS_PORT = 6379

Json = dict[str, Any]


def required_variables() -> list[str]:
    """Variables the compose file refuses to run without (`${NAME:?message}`)."""
    return sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", COMPOSE_FILE.read_text())))


def compose_env(omit: str | None = None) -> dict[str, str]:
    """A hermetic environment: no .env file, stand-in values for every required variable."""
    env = {"PATH": os.environ.get("PATH", ""), "COMPOSE_DISABLE_ENV_FILE": "1"}
    env.update({name: f"test-{name.lower()}" for name in required_variables() if name != omit})
    return env


def composecheck(
    binary: Path, compose_file: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), str(compose_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def composecheck_binary() -> Path:
    """Build tools/composecheck into .cache/bin.

    `go build` runs every session: Go's build cache decides staleness (about 0.1 s when
    nothing changed; the first build, compose-go included, takes ~30 s).
    """
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain (go) is required to build tools/composecheck")
    TOOL_BINARY.parent.mkdir(parents=True, exist_ok=True)
    build = subprocess.run(
        [go, "build", "-o", str(TOOL_BINARY), "."],
        cwd=TOOL_DIR,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, f"go build failed:\n{build.stderr}"
    return TOOL_BINARY


@pytest.fixture(scope="session")
def project(composecheck_binary: Path) -> Json:
    """The normalized project compose-go makes of docker-compose.yml."""
    result = composecheck(composecheck_binary, COMPOSE_FILE, compose_env())
    assert result.returncode == 0, f"docker-compose.yml is invalid:\n{result.stderr}"
    loaded: Json = json.loads(result.stdout)
    return loaded


@pytest.fixture(scope="session")
def services(project: Json) -> dict[str, Json]:
    found: dict[str, Json] = project["services"]
    return found


def container_ports(service: Json) -> set[int]:
    """Ports a service offers on the compose network: `expose` plus published targets."""
    ports = {int(str(p).split("/")[0]) for p in service.get("expose") or []}
    ports |= {int(p["target"]) for p in service.get("ports") or []}
    return ports


def load_yaml(path: Path) -> Json:
    loaded: Json = yaml.safe_load(path.read_text())
    return loaded


def instances(services: dict[str, Json]) -> dict[str, list[str]]:
    """The compose services that run each Chirp service (``python -m services.<name>``): one for
    most, several for search (each with an index of its own)."""
    found: dict[str, list[str]] = {}
    for compose_name, service in sorted(services.items()):
        match service.get("command"):
            case ["python", "-m", module] if module.removeprefix("services.") in SERVICE_PORTS:
                found.setdefault(module.removeprefix("services."), []).append(compose_name)
    return found


def dns_names(services: dict[str, Json]) -> dict[str, set[str]]:
    """Every name the compose network resolves, and the services behind it: each service's own
    name, and the aliases it takes on its networks."""
    names: dict[str, set[str]] = {}
    for compose_name, service in services.items():
        names.setdefault(compose_name, set()).add(compose_name)
        for network in (service.get("networks") or {}).values():
            for alias in (network or {}).get("aliases") or []:
                names.setdefault(alias, set()).add(compose_name)
    return names


def replicas(service: Json) -> int:
    """Containers compose runs of a service (``deploy.replicas``, one unless given)."""
    count = (service.get("deploy") or {}).get("replicas")
    return 1 if count is None else int(count)


def flag(command: list[str], name: str) -> str:
    """The value that follows ``name`` in an argv (``--seeds a,b`` is ``"a,b"``)."""
    assert command.count(name) == 1, f"{name} is not given once in {command}"
    return command[command.index(name) + 1]


def waits_for(service: Json, target: str, condition: str) -> bool:
    """Whether ``service`` starts only once ``target`` meets ``condition``."""
    dependency: Json = (service.get("depends_on") or {}).get(target) or {}
    return bool(dependency.get("condition") == condition)


def properties(text: str) -> dict[str, str]:
    """A Java .properties file of ``key=value`` lines (comments and blanks skipped)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


# --- the file is valid Compose, and invalid files are caught ------------------------------


def test_compose_file_is_valid(services: dict[str, Json]) -> None:
    infra = {"neo4j", "seaweedfs", "envoy", "prometheus", REDIS_CLUSTER_JOB, *JOBS}
    assert infra | {*SCYLLA_NODES, *NATS_NODES, *REDIS_NODES} <= set(services)
    assert set(instances(services)) == set(SERVICE_PORTS), "a Chirp service is not run"
    assert "version" not in load_yaml(COMPOSE_FILE), "the Compose Specification has no `version:`"


def test_round_tripped_copy_is_valid(composecheck_binary: Path, tmp_path: Path) -> None:
    """The control for the rejection tests below: re-serializing alone breaks nothing."""
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(yaml.safe_dump(load_yaml(COMPOSE_FILE)))
    result = composecheck(composecheck_binary, copy, compose_env())
    assert result.returncode == 0, result.stderr


def _unknown_top_level_key(model: Json) -> None:
    model["servicez"] = {}


def _ports_not_a_list(model: Json) -> None:
    model["services"]["redis-1"]["ports"] = "x"


def _misspelled_service_key(model: Json) -> None:
    model["services"]["users"]["comand"] = model["services"]["users"].pop("command")


def _depends_on_undefined_service(model: Json) -> None:
    model["services"]["envoy"]["depends_on"]["nosuchservice"] = {"condition": "service_healthy"}


def _undefined_named_volume(model: Json) -> None:
    model["services"]["redis-1"]["volumes"] = ["nosuchvolume:/data"]


def _unknown_depends_on_condition(model: Json) -> None:
    model["services"]["envoy"]["depends_on"]["users"] = {"condition": "service_ready"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_unknown_top_level_key, "servicez"),
        (_ports_not_a_list, "ports"),
        (_misspelled_service_key, "comand"),
        (_depends_on_undefined_service, "nosuchservice"),
        (_undefined_named_volume, "nosuchvolume"),
        (_unknown_depends_on_condition, "condition"),
    ],
)
def test_broken_copy_is_rejected(
    composecheck_binary: Path, tmp_path: Path, mutate: Callable[[Json], None], expected: str
) -> None:
    model = load_yaml(COMPOSE_FILE)
    mutate(model)
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(model))
    result = composecheck(composecheck_binary, broken, compose_env())
    assert result.returncode != 0, f"accepted a broken file:\n{result.stdout[:2000]}"
    assert expected in result.stderr


def test_missing_credentials_are_rejected(composecheck_binary: Path) -> None:
    """Interpolation is on: every `${NAME:?}` is required and documented in the header."""
    names = required_variables()
    assert "NEO4J_PASSWORD" in names
    header = "\n".join(
        line for line in COMPOSE_FILE.read_text().splitlines() if line.startswith("#")
    )
    for name in names:
        assert name in header, f"{name} is required but not documented in the header comment"
        result = composecheck(composecheck_binary, COMPOSE_FILE, compose_env(omit=name))
        assert result.returncode != 0, f"loaded without {name}"
        assert f"required variable {name} is missing" in result.stderr


def test_obsolete_version_key_is_rejected(composecheck_binary: Path, tmp_path: Path) -> None:
    """Loader warnings fail the check too (here: the obsolete `version:` attribute)."""
    copy = tmp_path / "docker-compose.yml"
    copy.write_text('version: "3.9"\n' + COMPOSE_FILE.read_text())
    result = composecheck(composecheck_binary, copy, compose_env())
    assert result.returncode != 0
    assert "version" in result.stderr


# --- consistency with the repository -------------------------------------------------------


def test_chirp_services_share_one_image_from_the_dockerfile(services: dict[str, Json]) -> None:
    built = {name for name, service in services.items() if service.get("build")}
    assert built == {name for names in instances(services).values() for name in names} | set(JOBS)
    for name in built:
        service = services[name]
        assert service["image"] == "chirp:latest", name
        build = service["build"]
        dockerfile = Path(build["context"]) / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def test_dockerfile_copies_only_existing_unignored_paths() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".data", ".cache", ".venv", ".git", "tests", "benchmarks", "secrets"} <= ignored
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from=") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    assert {"pyproject.toml", "uv.lock", "gen/", "services/"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert source.rstrip("/") not in ignored, (
            f"Dockerfile copies {source}, but .dockerignore drops it"
        )


def test_images_are_pinned(services: dict[str, Json]) -> None:
    for name, service in services.items():
        if service.get("build"):
            continue
        image: str = service["image"]
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag, f"{name}: image {image} has no tag"
        assert tag != "latest", f"{name}: image {image} is not pinned to a version"


def test_commands_name_existing_modules(services: dict[str, Json]) -> None:
    run = instances(services)
    for name in SERVICE_PORTS:
        for compose_name in run[name]:
            # The service's name, or (one of several with state of their own) <name>-<n>.
            assert re.fullmatch(rf"{name}(-[0-9]+)?", compose_name), compose_name
        package = ROOT / "services" / name
        assert (package / "__main__.py").is_file(), (
            f"`python -m services.{name}` needs {package}/__main__.py"
        )
    for job, module in JOBS.items():
        assert services[job]["command"] == ["python", "-m", module]
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), (
            f"{job} runs {module}, which does not exist"
        )
        assert services[job]["restart"] == "no", f"{job} is a one-shot job"
        for names in run.values():
            for compose_name in names:
                assert waits_for(services[compose_name], job, "service_completed_successfully"), (
                    compose_name
                )


def _scraped(config: Json) -> tuple[set[tuple[str, int, str]], set[str]]:
    """The (host, port, path) a Prometheus configuration scrapes, and what its exporters scrape
    on each scrape's behalf (the targets of a multi-target exporter's job)."""
    targets: set[tuple[str, int, str]] = set()
    exported: set[str] = set()
    for job in config["scrape_configs"]:
        path = job.get("metrics_path", "/metrics")
        exporter = _relabelled_address(job)
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                if exporter is not None:
                    exported.add(target)
                host, _, port = (exporter or target).rpartition(":")
                targets.add((host, int(port), path))
        for dns in job.get("dns_sd_configs", []):
            targets |= {(host, int(dns["port"]), path) for host in dns["names"]}
    return targets, exported


def _relabelled_address(job: Json) -> str | None:
    """The address a job scrapes whatever its targets (an exporter's multi-target pattern:
    each target becomes the scrape's ``target`` parameter), or None."""
    for rule in job.get("relabel_configs", []):
        if rule.get("target_label") == "__address__":
            return str(rule["replacement"])
    return None


def test_healthchecks(services: dict[str, Json]) -> None:
    platform = ROOT / "services" / "platform"
    assert (platform / "healthcheck.py").is_file()
    for names in instances(services).values():
        for compose_name in names:
            assert services[compose_name]["healthcheck"]["test"] == HEALTHCHECK, compose_name
    for name, service in services.items():
        for target, dependency in (service.get("depends_on") or {}).items():
            condition = dependency["condition"]
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), (
                    f"{name} waits for {target} to be healthy, which has no healthcheck"
                )


def test_bind_mounts_exist(services: dict[str, Json]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), (
                    f"{name} mounts {volume['source']}, which does not exist"
                )


def test_stores_keep_their_data_in_named_volumes(project: Json, services: dict[str, Json]) -> None:
    stores = {
        **dict.fromkeys(SCYLLA_NODES, "/var/lib/scylla"),
        "neo4j": "/data",
        **dict.fromkeys(REDIS_NODES, "/data"),
        **dict.fromkeys(NATS_NODES, "/data"),
        "seaweedfs": "/data",
        **dict.fromkeys(instances(services)["search"], "/var/lib/chirp/search"),
        "prometheus": "/prometheus",
    }
    owners: dict[str, str] = {}
    for name, service in services.items():
        named = {
            v["target"]: v["source"] for v in service.get("volumes") or [] if v["type"] == "volume"
        }
        for source in named.values():
            # A node's or an index's data is its own: no two containers write one volume.
            assert source not in owners, f"{name} and {owners[source]} share volume {source}"
            assert replicas(service) == 1, (
                f"the {replicas(service)} replicas of {name} share {source}"
            )
            owners[source] = name
        if name in stores:
            assert stores[name] in named, f"{name} keeps {stores[name]} outside a named volume"
    assert set(owners) == set(project["volumes"]), "declared and mounted named volumes differ"


def test_ports_follow_the_port_plan(services: dict[str, Json]) -> None:
    names = dns_names(services)
    run = instances(services)
    for name, compose_names in run.items():
        port, metrics_port = SERVICE_PORTS[name]
        for compose_name in compose_names:
            service = services[compose_name]
            env: dict[str, str] = service["environment"]
            kind = "HTTP" if name in HTTP_PORTS else "GRPC"
            assert env[f"CHIRP_{kind}_PORT"] == str(port), compose_name
            assert env["CHIRP_METRICS_PORT"] == str(metrics_port), compose_name
            assert env["CHIRP_ENVIRONMENT"] == "production", compose_name
            assert env["CHIRP_GRPC_HOST"] in ALL_INTERFACES, compose_name
            content = {MediaSettings().content_port} if name == "media" else set()
            assert container_ports(service) == {port, metrics_port, *content}, compose_name
            # A peer is a dns:/// target of the name every process of it answers to, so calls
            # go round robin over all of them (services/platform/channels.py).
            for peer, peer_port in GRPC_PORTS.items():
                assert env[f"CHIRP_{peer.upper()}_ADDR"] == f"dns:///{peer}:{peer_port}", (
                    compose_name
                )
                assert set(run[peer]) <= names[peer], f"{peer} misses a process"
            if name in GRPC_PORTS:  # the gRPC services publish or consume events
                for node in NATS_NODES:
                    assert waits_for(service, node, "service_healthy"), (compose_name, node)
    assert services["graph"]["environment"]["CHIRP_NEO4J_URI"] == "bolt+s://neo4j:7687"
    assert 7687 in container_ports(services["neo4j"])
    for node in SCYLLA_NODES:
        assert CQL_PORT in container_ports(services[node]), node


def store_env_holders(services: dict[str, Json]) -> list[str]:
    """Everything that reaches the stores: the migration and every process of every service."""
    return [*JOBS, *(name for names in instances(services).values() for name in names)]


def test_every_process_is_told_of_every_store_node(services: dict[str, Json]) -> None:
    """Cassandra contact points, NATS servers and Redis seeds name the clusters' nodes, so a
    process starts, and keeps working, with any one of them down."""
    for holder in store_env_holders(services):
        env: dict[str, str] = services[holder]["environment"]
        assert env["CHIRP_CASSANDRA_HOSTS"].split(",") == list(SCYLLA_NODES), holder
        servers = env["CHIRP_NATS_URL"].split(",")
        assert servers == [f"tls://{node}:{NATS_CLIENT_PORT}" for node in NATS_NODES], holder
        # The stream and its consumers on every server: any one can go.
        assert env["CHIRP_NATS_REPLICAS"] == str(len(NATS_NODES)), holder
        # The cluster-aware client's URL, as it parses it: seeds among the nodes (any subset
        # will do: the client learns the rest), more than one so that any one can be down.
        cluster = ClusterUrl.parse(env["CHIRP_REDIS_URL"])
        assert len(cluster.seeds) >= 2, holder
        for host, port in cluster.seeds:
            assert host in REDIS_NODES, f"{holder}: Redis seed {host} is not a node"
            assert port == REDIS_PORT, holder
            assert port in container_ports(services[host]), holder


def test_credentials_are_never_committed(project: Json) -> None:
    """Secret files and the .env that holds the compose variables are git-ignored."""
    secret_files = [Path(secret["file"]) for secret in project["secrets"].values()]
    assert {path.parent for path in secret_files} == {ROOT / "secrets"}
    for path in [*secret_files, ROOT / ".env"]:
        ignored = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", str(path)], cwd=ROOT, check=False
        )
        assert ignored.returncode == 0, f"{path} is not git-ignored"


def test_only_users_holds_the_signing_key(services: dict[str, Json]) -> None:
    holders = {
        name
        for name, service in services.items()
        if any(s["source"] == "jwt_private_key" for s in service.get("secrets") or [])
    }
    assert holders == {"users"}, "only the users service signs tokens"
    assert (
        services["users"]["environment"]["CHIRP_JWT_PRIVATE_KEY_FILE"]
        == "/run/secrets/jwt_private_key"
    )


def test_every_service_and_the_gateway_hold_the_mesh_certificate(
    services: dict[str, Json],
) -> None:
    mesh = {"mesh_ca", "mesh_certificate", "mesh_key"}
    served = 0
    for name, service in services.items():
        environment = service.get("environment") or {}
        serves = "CHIRP_GRPC_PORT" in environment or "CHIRP_HTTP_PORT" in environment
        if serves or name == "envoy":
            held = {secret["source"] for secret in service.get("secrets") or []}
            assert mesh <= held, name
        if serves:
            served += 1
            assert environment["CHIRP_MTLS_ENABLED"] == "true", name
            assert {
                environment[f"CHIRP_MTLS_{file}_FILE"] for file in ("CA", "CERTIFICATE", "KEY")
            } == {f"/run/secrets/{secret}" for secret in mesh}, name
    assert served == len(SERVICE_PORTS) + 1  # search runs as two services (two indexes)


def test_prometheus_scrapes_every_service_envoy_redis_and_nats(services: dict[str, Json]) -> None:
    mounts = {
        v["target"]: Path(v["source"])
        for v in services["prometheus"]["volumes"]
        if v["type"] == "bind"
    }
    config_file = mounts["/etc/prometheus/prometheus.yml"]
    assert config_file == ROOT / "deploy" / "prometheus" / "prometheus.yml"
    targets, exported = _scraped(load_yaml(config_file))
    # DNS discovery finds every container behind a name: every replica of every service.
    names = dns_names(services)
    for name, compose_names in instances(services).items():
        metrics_port = SERVICE_PORTS[name][1]
        for compose_name in compose_names:
            assert any(
                port == metrics_port and path == "/metrics" and compose_name in names[host]
                for host, port, path in targets
                if host in names
            ), f"Prometheus does not scrape {compose_name}"
    assert ("envoy", ENVOY_ADMIN_PORT, "/stats/prometheus") in targets
    redis_nodes = {name for name in services if name.startswith("redis-") and name[6:].isdigit()}
    assert exported == {f"rediss://{node}:6379" for node in redis_nodes}
    nats_exporters = [name for name in services if name.startswith("nats-exporter-")]
    assert sorted(
        services[name]["command"][-1].removeprefix("http://").removesuffix(":8222")
        for name in nats_exporters
    ) == ["nats-1", "nats-2", "nats-3"]
    assert {("nats-exporter-1", 7777, "/metrics"), ("redis-exporter", 9121, "/scrape")} <= targets
    for host, port, _ in targets:
        if host != "localhost":
            assert host in names, f"Prometheus scrapes {host}, which no service answers to"
            for behind in names[host]:
                assert port in container_ports(services[behind]), (
                    f"Prometheus scrapes {host}:{port}, not offered by {behind}"
                )


def test_envoy_serves_the_gateway_config(services: dict[str, Json]) -> None:
    envoy = services["envoy"]
    assert envoy["command"][-2:] == ["-c", "/etc/envoy/envoy.yaml"]
    [mount] = [v for v in envoy["volumes"] if v["target"] == "/etc/envoy"]
    assert mount["type"] == "bind"
    assert mount["read_only"]
    assert Path(mount["source"]) == ROOT / "gateway"
    assert {int(p["published"]) for p in envoy["ports"]} == {GATEWAY_PORT, GATEWAY_TLS_PORT}
    everything = {name for names in instances(services).values() for name in names}
    assert set(envoy["depends_on"]) == everything
    # The edge is one: it holds the published port; the services behind it are many.
    assert replicas(envoy) == 1
    # The HTTPS listener's certificate and key are the secrets given to Envoy.
    named = {s for s in strings(load_yaml(ROOT / "gateway" / "envoy.yaml")) if "/secrets/" in s}
    assert named == {f"/run/secrets/{secret['source']}" for secret in envoy["secrets"]}


def socket_addresses(node: Any) -> list[Json]:
    """Every socket_address under a parsed Envoy config node."""
    if isinstance(node, dict):
        found = [node["socket_address"]] if isinstance(node.get("socket_address"), dict) else []
        return found + [a for value in node.values() for a in socket_addresses(value)]
    if isinstance(node, list):
        return [a for item in node for a in socket_addresses(item)]
    return []


def test_envoy_clusters_name_compose_services(services: dict[str, Json]) -> None:
    config = load_yaml(ROOT / "gateway" / "envoy.yaml")
    resources = config["static_resources"]
    names = dns_names(services)
    upstreams: set[tuple[str, int]] = set()
    for cluster in resources["clusters"]:
        addresses = socket_addresses(cluster["load_assignment"])
        for address in addresses:
            upstreams.add((address["address"], int(address["port_value"])))
        if addresses:
            # STRICT_DNS sends to every address a name resolves to (every replica);
            # LOGICAL_DNS would use only the first.
            assert cluster["type"] == "STRICT_DNS", cluster["name"]
    for host, port in upstreams:
        assert host in names, f"Envoy cluster address {host} is not a compose service"
        for behind in names[host]:
            assert port in container_ports(services[behind]), (
                f"Envoy sends to {host}:{port}, which {behind} does not offer"
            )
    for name, compose_names in instances(services).items():
        port = SERVICE_PORTS[name][0]
        for compose_name in compose_names:
            assert any(
                upstream_port == port and compose_name in names[host]
                for host, upstream_port in upstreams
            ), f"Envoy does not send {name}'s requests to {compose_name}"
    listener_ports = {int(a["port_value"]) for a in socket_addresses(resources["listeners"])}
    assert {GATEWAY_PORT, GATEWAY_TLS_PORT} <= listener_ports
    admin = config["admin"]["address"]["socket_address"]
    assert int(admin["port_value"]) == ENVOY_ADMIN_PORT
    assert admin["address"] in ALL_INTERFACES, (
        "Prometheus scrapes the admin port from its container"
    )


def strings(node: Any) -> list[str]:
    """Every string value under a parsed YAML node."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def test_envoy_reads_only_files_of_the_mounted_gateway_dir() -> None:
    """The descriptor set and any other file Envoy opens come from ./gateway (/etc/envoy)."""
    config = strings(load_yaml(ROOT / "gateway" / "envoy.yaml"))
    paths = [s for s in config if s.startswith("/etc/")]
    assert any(path.endswith(".pb") for path in paths), "no proto descriptor set configured"
    for path in paths:
        assert path.startswith("/etc/envoy/"), f"Envoy reads {path}, outside the mounted config"
        local = ROOT / "gateway" / path.removeprefix("/etc/envoy/")
        assert local.is_file(), f"Envoy reads {path}, but {local} does not exist"


# --- production's shape: clustered stores, replicated services ------------------------------


def test_scylla_is_a_three_node_cluster(project: Json, services: dict[str, Json]) -> None:
    """Three nodes of one cluster and datacenter, a rack each; the keyspace keeps a copy of
    every row on each (RF 3, one per rack), in the datacenter the services read and write."""
    nodes = [name for name, s in services.items() if s["image"].startswith("scylladb/scylla:")]
    assert sorted(nodes) == list(SCYLLA_NODES)
    images = {services[node]["image"] for node in nodes}
    assert len(images) == 1, f"the nodes run different images: {images}"
    seeds: set[str] = set()
    racks: dict[str, str] = {}
    datacenters: set[str] = set()
    for index, node in enumerate(SCYLLA_NODES):
        command: list[str] = services[node]["command"]
        node_seeds = set(flag(command, "--seeds").split(","))
        assert node_seeds <= set(SCYLLA_NODES), f"{node}: a seed is not a node"
        seeds |= node_seeds
        assert flag(command, "--cluster-name") == "chirp", node
        assert flag(command, "--smp") == "1", node
        assert flag(command, "--memory"), node
        # Datacenter and rack from the node's own cassandra-rackdc.properties.
        assert flag(command, "--endpoint-snitch") == "GossipingPropertyFileSnitch", node
        [rackdc] = [
            c
            for c in services[node]["configs"]
            if c["target"].endswith("/cassandra-rackdc.properties")
        ]
        location = properties(project["configs"][rackdc["source"]]["content"])
        datacenters.add(location["dc"])
        racks[node] = location["rack"]
        if index:  # a new cluster is joined one node at a time, after the one before
            assert waits_for(services[node], SCYLLA_NODES[index - 1], "service_healthy"), node
        else:
            assert node_seeds == {node}, f"{node} founds the cluster: its own seed"
            assert not services[node].get("depends_on"), f"{node} founds the cluster alone"
    # The first node is the seed of all, so every seed resolves when any node starts.
    assert seeds == {SCYLLA_NODES[0]}
    assert len(set(racks.values())) == len(SCYLLA_NODES), f"nodes share a rack: {racks}"
    [datacenter] = datacenters
    migrate = services["migrate"]
    for node in SCYLLA_NODES:
        assert waits_for(migrate, node, "service_healthy"), f"migrate does not wait for {node}"
    for holder in store_env_holders(services):
        env: dict[str, str] = services[holder]["environment"]
        assert env["CHIRP_CASSANDRA_LOCAL_DC"] == datacenter, holder
        replication = ast.literal_eval(env["CHIRP_CASSANDRA_REPLICATION"])
        assert replication == {"class": "NetworkTopologyStrategy", datacenter: len(racks)}, holder
        # Counters and lightweight transactions need vnode tables, not ScyllaDB's tablets.
        assert env["CHIRP_CASSANDRA_KEYSPACE_OPTIONS"] == "tablets = {'enabled': false}", holder


def test_nats_is_a_three_node_jetstream_cluster(services: dict[str, Json]) -> None:
    """Three servers of one cluster, each with JetStream in its own store and routes to the
    other two: a stream at three replicas survives the loss of any one."""
    nodes = [name for name, s in services.items() if s["image"].startswith("nats:")]
    assert sorted(nodes) == list(NATS_NODES)
    server_names: set[str] = set()
    for node in NATS_NODES:
        service = services[node]
        command: list[str] = service["command"]
        assert "--jetstream" in command, node
        store = flag(command, "--store_dir")
        volumes = {v["target"] for v in service["volumes"] if v["type"] == "volume"}
        assert store in volumes, f"{node} keeps JetStream outside its volume"
        server_names.add(flag(command, "--server_name"))
        assert flag(command, "--cluster_name") == "chirp", node
        assert flag(command, "--cluster").endswith(f":{NATS_ROUTE_PORT}"), node
        routes = set(flag(command, "--routes").split(","))
        others = {f"nats://{other}:{NATS_ROUTE_PORT}" for other in NATS_NODES if other != node}
        assert routes == others, f"{node} routes to {routes}"
        assert {NATS_CLIENT_PORT, NATS_ROUTE_PORT} <= container_ports(service), node
        assert service["healthcheck"]["test"], node
    assert len(server_names) == len(NATS_NODES), "two servers share a name"


def redis_cluster_script(services: dict[str, Json]) -> str:
    job = services[REDIS_CLUSTER_JOB]
    command: list[str] = job["command"]
    assert command[:2] == ["sh", "-euc"], command
    return command[2]


def test_redis_is_a_cluster_of_six_nodes(services: dict[str, Json]) -> None:
    """Six cluster-enabled nodes that persist (append-only file, the cluster's state in their
    volume) and announce their compose names, so that redirects name reachable nodes."""
    nodes = [name for name, s in services.items() if s["image"].startswith("redis:")]
    assert sorted(nodes) == sorted([*REDIS_NODES, REDIS_CLUSTER_JOB])
    for node in REDIS_NODES:
        service = services[node]
        command: list[str] = service["command"]
        assert command[0] == "redis-server", node
        assert flag(command, "--cluster-enabled") == "yes", node
        assert flag(command, "--appendonly") == "yes", node
        assert flag(command, "--cluster-announce-hostname") == node, node
        assert flag(command, "--cluster-preferred-endpoint-type") == "hostname", node
        volumes = {v["target"] for v in service["volumes"] if v["type"] == "volume"}
        assert Path(flag(command, "--cluster-config-file")).parent.as_posix() in volumes, node
        assert {REDIS_PORT, REDIS_PORT + 10000} <= container_ports(service), node  # + the bus
        assert service["healthcheck"]["test"], node


def test_redis_image_is_the_bsd_licensed_release(services: dict[str, Json]) -> None:
    """Redis 7.2 is BSD-3-Clause (7.4 is RSALv2/SSPLv1); the README's licence table names the
    image compose runs."""
    images = {s["image"] for s in services.values() if s["image"].startswith("redis:")}
    assert images == {"redis:7.2-alpine"}
    assert "`redis:7.2-alpine`" in (ROOT / "README.md").read_text()


def test_the_redis_cluster_is_created_once_before_the_services(services: dict[str, Json]) -> None:
    job = services[REDIS_CLUSTER_JOB]
    assert job["restart"] == "no", "a one-shot job"
    for node in REDIS_NODES:
        assert waits_for(job, node, "service_healthy"), f"the job does not wait for {node}"
    script = redis_cluster_script(services)
    for node in REDIS_NODES:
        assert node in script, f"the cluster is made without {node}"
    # Three masters, a replica of each, without asking; only if not made already.
    assert re.search(r"--cluster create .*--cluster-replicas 1 --cluster-yes", script, re.DOTALL)
    assert script.index("cluster info") < script.index("--cluster create"), "not idempotent"
    assert len(REDIS_NODES) // 2 >= 3, "a Redis Cluster needs three masters"
    # What compose runs (after its `$$` escapes) is a valid POSIX shell script.
    shell = shutil.which("sh")
    assert shell is not None
    parsed = subprocess.run(
        [shell, "-n", "-c", script], capture_output=True, text=True, check=False
    )
    assert parsed.returncode == 0, parsed.stderr
    for names in instances(services).values():
        for compose_name in names:
            assert waits_for(
                services[compose_name], REDIS_CLUSTER_JOB, "service_completed_successfully"
            ), compose_name


def test_every_service_runs_at_least_two_processes(services: dict[str, Json]) -> None:
    for name, compose_names in instances(services).items():
        processes = sum(replicas(services[compose_name]) for compose_name in compose_names)
        assert processes >= 2, f"{name} runs {processes} process(es)"


def test_search_processes_keep_their_own_index(services: dict[str, Json]) -> None:
    """Each search process is its own service (one writer per index): its own replica name,
    hence its own durable consumer, and its index in a volume of its own; all answer to the
    one name `search` that callers, Envoy and Prometheus resolve."""
    searchers = instances(services)["search"]
    assert len(searchers) >= 2
    assert set(searchers) <= dns_names(services)["search"]
    replica_names: set[str] = set()
    volumes: set[str] = set()
    for compose_name in searchers:
        service = services[compose_name]
        assert replicas(service) == 1, f"{compose_name}'s replicas would share one index"
        env: dict[str, str] = service["environment"]
        settings = SearchSettings(replica=env["CHIRP_SEARCH_REPLICA"])
        assert settings.replica, compose_name
        replica_names.add(settings.replica)
        index = settings.index_dir(Path(env["CHIRP_DATA_DIR"]))
        [mount] = [
            v
            for v in service["volumes"]
            if v["type"] == "volume" and index.is_relative_to(v["target"])
        ]
        volumes.add(mount["source"])
    assert len(replica_names) == len(searchers), "two search processes share a replica name"
    assert len(volumes) == len(searchers), "two search processes share an index volume"


def _secret_names(service: Json) -> set[str]:
    return {secret["source"] for secret in service.get("secrets", [])}


def _values_of(command: list[str], name: str) -> list[str]:
    """Every value of a flag given more than once (``--name value --name value``)."""
    return [value for flag_, value in itertools.pairwise(command) if flag_ == name]


def test_every_connection_to_a_store_is_tls(project: Json, services: dict[str, Json]) -> None:
    """Each store serves TLS only, with the store certificate; every process that reaches a
    store does so over TLS, checking it against the mesh's authority (store_tls.py)."""
    certificate, key = "/run/secrets/store_certificate", "/run/secrets/store_key"
    for holder in store_env_holders(services):
        env: dict[str, str] = services[holder]["environment"]
        assert env["CHIRP_CASSANDRA_TLS"] == "true", holder
        assert env["CHIRP_STORE_TLS_CA_FILE"] == "/run/secrets/mesh_ca", holder
        assert "mesh_ca" in _secret_names(services[holder]), holder
        assert env["CHIRP_NEO4J_URI"].startswith("bolt+s://"), holder
        assert env["CHIRP_REDIS_URL"].startswith("rediss+cluster://"), holder
        assert all(url.startswith("tls://") for url in env["CHIRP_NATS_URL"].split(",")), holder
    for store in (*SCYLLA_NODES, *NATS_NODES, *REDIS_NODES, "neo4j"):
        assert {"store_certificate", "store_key"} <= _secret_names(services[store]), store
    for node in SCYLLA_NODES:
        options = _values_of(services[node]["command"], "--client-encryption-options")
        assert {"enabled=true", f"certificate={certificate}", f"keyfile={key}"} <= set(options)
    for node in REDIS_NODES:
        command = services[node]["command"]
        assert (flag(command, "--port"), flag(command, "--tls-port")) == ("0", str(REDIS_PORT))
        assert flag(command, "--tls-cluster") == flag(command, "--tls-replication") == "yes"
        assert (flag(command, "--tls-cert-file"), flag(command, "--tls-key-file")) == (
            certificate,
            key,
        )
        assert "--tls" in services[node]["healthcheck"]["test"], node
    for node in NATS_NODES:
        (config,) = services[node]["configs"]
        assert flag(services[node]["command"], "--config") == config["target"], node
        tls_block = project["configs"][config["source"]]["content"]
        assert f"cert_file: {certificate}" in tls_block
        assert f"key_file: {key}" in tls_block
        assert "handshake_first: true" in tls_block
    neo4j: dict[str, str] = services["neo4j"]["environment"]
    assert neo4j["NEO4J_server_bolt_tls__level"] == "REQUIRED"
    assert neo4j["NEO4J_dbms_ssl_policy_bolt_enabled"] == "true"


def test_the_store_certificate_recipe_names_every_store() -> None:
    """The header's openssl recipe certifies every store by the name the services dial."""
    header = COMPOSE_FILE.read_text(encoding="utf-8").split("\nname: chirp\n")[0]
    match = re.search(r"printf 'DNS:%s,' (.*?)\)IP:", header, re.DOTALL)
    assert match, "no store certificate recipe in the header"
    names = set(match.group(1).replace("#", " ").replace("\\", " ").split())
    assert {*SCYLLA_NODES, *NATS_NODES, *REDIS_NODES, "neo4j"} <= names
