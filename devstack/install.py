"""Installs whatever the project needs and this machine lacks; fast when nothing is missing.

Debian packages (Redis, Java 17, Maven), the Python environment (uv, from the lock file) and the
Cassandra and Neo4j jars (Maven Central, into ``.cache/jars``). Stdlib only: it runs before the
virtualenv exists.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from devstack import cassandra, maven, neo4j
from devstack.paths import CACHE, ROOT

UV_VERSION = "0.13.8"
#: Command-line tools built from the Go module proxy into ``.cache/bin``, pinned by version.
GO_TOOLS = {
    "grpcurl": "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4",
    "ghz": "github.com/bojand/ghz/cmd/ghz@v0.120.0",
    # `make gen` writes gateway/openapi.json with it. (v2.32.0 needs a genproto version the
    # module proxy does not serve.)
    "protoc-gen-openapiv2": (
        "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@v2.31.0"
    ),
}
#: Go programs whose module has ``replace`` lines, which ``go install pkg@version`` refuses:
#: each is built from a small module of the project's own under ``tools/`` that requires it
#: (``tool`` line, pinned version) and repeats the replaces. Rebuilt when that go.sum changes.
GO_MODULE_TOOLS = {
    # The S3 object store for media (SeaweedFS, Apache-2.0): about 10 minutes to build on two
    # cores, once.
    "weed": ("tools/seaweedfs", "github.com/seaweedfs/seaweedfs/weed"),
    # Jaeger v2 (Apache-2.0), where traces go (the Go module's v1.76.0 is Jaeger 2.13.0):
    # several minutes to build on two cores, once.
    "jaeger": ("tools/jaeger", "github.com/jaegertracing/jaeger/cmd/jaeger"),
}
GO_BIN = CACHE / "bin"


def say(message: str) -> None:
    print(f"[install] {message}", flush=True)


def _run(argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    """Runs one install step quietly, timing it; its whole output is shown only if it fails."""
    say(" ".join(argv))
    started = time.monotonic()
    result = subprocess.run(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False
    )
    if result.returncode != 0:
        sys.stdout.write(result.stdout.decode(errors="replace"))
        raise SystemExit(f"[install] failed ({result.returncode}): {' '.join(argv)}")
    say(f"  done in {time.monotonic() - started:.1f}s")


def _apt_install(packages: list[str]) -> None:
    if not packages:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run([*sudo, "apt-get", "update", "-qq"], env=env)
    _run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env)


def debian_packages() -> None:
    missing = []
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if not maven.JAVA17.exists():
        missing.append("openjdk-17-jre-headless")
    if shutil.which("mvn") is None:
        missing.append("maven")
    # the benchmarks' load tools: wrk (the mix through Envoy) and redis-benchmark
    if shutil.which("wrk") is None:
        missing.append("wrk")
    if shutil.which("redis-benchmark") is None:
        missing.append("redis-tools")
    # the media service probes and transcodes videos with them
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        missing.append("ffmpeg")
    # the local stack's Prometheus (devstack/monitoring.py), with promtool, which checks and
    # unit-tests deploy/prometheus/rules, and the exporter it reads Redis through
    monitoring = {
        "prometheus": "prometheus",
        "prometheus-redis-exporter": "prometheus-redis-exporter",
    }
    fresh = [package for command, package in monitoring.items() if shutil.which(command) is None]
    _apt_install(missing + fresh)
    _keep_system_services_off(fresh)


def _keep_system_services_off(packages: list[str]) -> None:
    """The stack starts these servers itself, with its own configuration: the system services
    that their packages enable and start would take their ports (Prometheus's :9090, the
    exporter's :9121) with a configuration that scrapes nothing of Chirp's."""
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    # Best effort, quietly: either command fails where its init system is not the one running.
    for package in packages:
        for argv in (["systemctl", "disable", "--now", package], ["service", package, "stop"]):
            if shutil.which(argv[0]) is not None:
                subprocess.run([*sudo, *argv], capture_output=True, check=False)


def python_environment() -> None:
    uv = shutil.which("uv")
    if uv is None:
        _run([sys.executable, "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"])
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    _run([uv, "sync", "--frozen", "--quiet"])


def jars(name: str) -> None:
    """Copies a Maven dependency tree into ``.cache/jars/<name>`` once per version of its pom."""
    target = maven.jars_dir(ROOT, name)
    marker = target / ".complete"
    fingerprint = hashlib.sha256(maven.pom(ROOT, name).read_bytes()).hexdigest()
    if marker.exists() and marker.read_text() == fingerprint:
        return
    shutil.rmtree(target, ignore_errors=True)
    _run(maven.install_command(ROOT, name))
    marker.write_text(fingerprint)


def go_tools() -> None:
    for name, package in GO_TOOLS.items():
        marker = GO_BIN / f".{name}.version"
        if (GO_BIN / name).exists() and marker.exists() and marker.read_text() == package:
            continue
        _run(["go", "install", package], env={**os.environ, "GOBIN": str(GO_BIN)})
        marker.write_text(package)
    for name, (module, package) in GO_MODULE_TOOLS.items():
        marker = GO_BIN / f".{name}.version"
        fingerprint = hashlib.sha256((ROOT / module / "go.sum").read_bytes()).hexdigest()
        if (GO_BIN / name).exists() and marker.exists() and marker.read_text() == fingerprint:
            continue
        _run(["go", "build", "-o", str(GO_BIN / name), package], cwd=ROOT / module)
        marker.write_text(fingerprint)


def main() -> None:
    if shutil.which("go") is None:
        raise SystemExit(
            "[install] Go >= 1.26.6 is needed (SeaweedFS, the compose check, grpcurl); "
            "install it first"
        )
    debian_packages()
    python_environment()
    go_tools()
    for server in (cassandra.NAME, neo4j.NAME):
        jars(server)
    say("everything is installed")
