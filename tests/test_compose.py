"""The production docker-compose.yml: valid Compose, and consistent with the project.

There is no Docker engine on the build machines, so the file is loaded by
tools/composecheck, a small Go program around compose-go, the loader `docker compose`
itself uses: schema validation, interpolation, normalization and consistency checks
(undefined volumes, secrets, depends_on targets) are those of the real thing. The tests
then hold the normalized project against the repository: the Dockerfile, the service
packages, the mounted paths, the port plan, gateway/envoy.yaml and the Prometheus config.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from devstack.components import ENVOY_ADMIN_PORT, GATEWAY_PORT, SERVICE_PORTS
from services.platform.settings import GRPC_PORTS, HTTP_PORTS, MediaSettings

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


# --- the file is valid Compose, and invalid files are caught ------------------------------


def test_compose_file_is_valid(services: dict[str, Json]) -> None:
    infra = {"scylla", "neo4j", "redis", "nats", "seaweedfs", "envoy", "prometheus"}
    assert infra | set(SERVICE_PORTS) <= set(services)
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
    model["services"]["redis"]["ports"] = "x"


def _misspelled_service_key(model: Json) -> None:
    model["services"]["users"]["comand"] = model["services"]["users"].pop("command")


def _depends_on_undefined_service(model: Json) -> None:
    model["services"]["envoy"]["depends_on"]["nosuchservice"] = {"condition": "service_healthy"}


def _undefined_named_volume(model: Json) -> None:
    model["services"]["redis"]["volumes"] = ["nosuchvolume:/data"]


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
    assert built == set(SERVICE_PORTS) | set(JOBS)
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
    for name in SERVICE_PORTS:
        assert services[name]["command"] == ["python", "-m", f"services.{name}"]
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
        for name in SERVICE_PORTS:
            assert (
                services[name]["depends_on"][job]["condition"] == "service_completed_successfully"
            ), name


def test_healthchecks(services: dict[str, Json]) -> None:
    platform = ROOT / "services" / "platform"
    assert (platform / "healthcheck.py").is_file()
    for name in SERVICE_PORTS:
        assert services[name]["healthcheck"]["test"] == HEALTHCHECK, name
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
        "scylla": "/var/lib/scylla",
        "neo4j": "/data",
        "redis": "/data",
        "nats": "/data",
        "seaweedfs": "/data",
        "search": "/var/lib/chirp/search",
        "prometheus": "/prometheus",
    }
    used: set[str] = set()
    for name, service in services.items():
        named = {
            v["target"]: v["source"] for v in service.get("volumes") or [] if v["type"] == "volume"
        }
        used |= set(named.values())
        if name in stores:
            assert stores[name] in named, f"{name} keeps {stores[name]} outside a named volume"
    assert used == set(project["volumes"]), "declared and mounted named volumes differ"


def test_ports_follow_the_port_plan(services: dict[str, Json]) -> None:
    for name, (port, metrics_port) in SERVICE_PORTS.items():
        service = services[name]
        env: dict[str, str] = service["environment"]
        kind = "HTTP" if name in HTTP_PORTS else "GRPC"
        assert env[f"CHIRP_{kind}_PORT"] == str(port), name
        assert env["CHIRP_METRICS_PORT"] == str(metrics_port), name
        assert env["CHIRP_ENVIRONMENT"] == "production", name
        assert env["CHIRP_GRPC_HOST"] in ALL_INTERFACES, name
        content = {MediaSettings().content_port} if name == "media" else set()
        assert container_ports(service) == {port, metrics_port, *content}, name
        for peer, peer_port in GRPC_PORTS.items():
            assert env[f"CHIRP_{peer.upper()}_ADDR"] == f"{peer}:{peer_port}", name
        assert env["CHIRP_NATS_URL"] == "nats://nats:4222", name
        assert env["CHIRP_REDIS_URL"] == "redis://redis:6379/0", name
        assert env["CHIRP_CASSANDRA_HOSTS"] == "scylla", name
        if name in GRPC_PORTS:  # the gRPC services publish or consume events
            assert services[name]["depends_on"]["nats"]["condition"] == "service_healthy", name
    assert services["graph"]["environment"]["CHIRP_NEO4J_URI"] == "bolt://neo4j:7687"
    assert 7687 in container_ports(services["neo4j"])
    assert 9042 in container_ports(services["scylla"])


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


def test_prometheus_scrapes_every_service_and_envoy(services: dict[str, Json]) -> None:
    mounts = {
        v["target"]: Path(v["source"])
        for v in services["prometheus"]["volumes"]
        if v["type"] == "bind"
    }
    config_file = mounts["/etc/prometheus/prometheus.yml"]
    assert config_file == ROOT / "deploy" / "prometheus" / "prometheus.yml"
    targets: set[tuple[str, int, str]] = set()
    for job in load_yaml(config_file)["scrape_configs"]:
        path = job.get("metrics_path", "/metrics")
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                targets.add((host, int(port), path))
        for dns in job.get("dns_sd_configs", []):
            targets |= {(host, int(dns["port"]), path) for host in dns["names"]}
    for name, (_, metrics_port) in SERVICE_PORTS.items():
        assert (name, metrics_port, "/metrics") in targets, f"Prometheus does not scrape {name}"
    assert ("envoy", ENVOY_ADMIN_PORT, "/stats/prometheus") in targets
    for host, port, _ in targets:
        if host != "localhost":
            assert port in container_ports(services[host]), (
                f"Prometheus scrapes {host}:{port}, not offered"
            )


def test_envoy_serves_the_gateway_config(services: dict[str, Json]) -> None:
    envoy = services["envoy"]
    assert envoy["command"][-2:] == ["-c", "/etc/envoy/envoy.yaml"]
    [mount] = [v for v in envoy["volumes"] if v["target"] == "/etc/envoy"]
    assert mount["type"] == "bind"
    assert mount["read_only"]
    assert Path(mount["source"]) == ROOT / "gateway"
    assert {int(p["published"]) for p in envoy["ports"]} == {GATEWAY_PORT}
    assert set(envoy["depends_on"]) == set(SERVICE_PORTS)


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
    upstreams: set[tuple[str, int]] = set()
    for cluster in resources["clusters"]:
        for address in socket_addresses(cluster["load_assignment"]):
            upstreams.add((address["address"], int(address["port_value"])))
    for host, port in upstreams:
        assert host in services, f"Envoy cluster address {host} is not a compose service"
        assert port in container_ports(services[host]), (
            f"Envoy sends to {host}:{port}, which is not offered"
        )
    assert {(name, grpc) for name, (grpc, _) in SERVICE_PORTS.items()} <= upstreams
    listener_ports = {int(a["port_value"]) for a in socket_addresses(resources["listeners"])}
    assert GATEWAY_PORT in listener_ports
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
