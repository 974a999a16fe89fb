"""ARCHITECTURE.md names only what exists, and the code keeps the import rules it states."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
DOCUMENT = (ROOT / "ARCHITECTURE.md").read_text()
#: What the document names in backticks.
NAMED = re.findall(r"`([^`\n]+)`", DOCUMENT)
TOP_FOLDERS = ("services/", "tests/", "gateway/", "proto/", "benchmarks/", "devstack/", "gen/")
#: Libraries the domain (model, ports, service) must not import: it sees the world through ports.
DRIVERS = ("grpc", "cassandra", "neo4j", "redis", "nats", "tantivy", "aiobotocore", "botocore")
DOMAIN = ("model.py", "ports.py", "service.py")
#: Where requests come in: a gRPC servicer, or the HTTP routes of the Mastodon API.
EDGES = ("servicer", "routes")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _class_names() -> dict[str, set[str]]:
    """Every class defined under services/, with the names of its methods."""
    classes: dict[str, set[str]] = {}
    for path in SERVICES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                methods = {
                    item.name
                    for item in node.body
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                }
                classes.setdefault(node.name, set()).update(methods)
    return classes


def test_every_path_it_names_exists() -> None:
    paths = [n for n in NAMED if n.startswith(TOP_FOLDERS) and "<" not in n]  # not templates
    assert len(paths) > 30  # the document is read, not skipped
    missing = [path for path in paths if not (ROOT / path.split(" ")[0]).exists()]
    assert missing == []


def test_every_class_and_method_it_names_exists() -> None:
    classes = _class_names()
    named = [n for n in NAMED if re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z0-9]*)*(?:\.[a-z_]+)?", n)]
    assert len(named) > 5
    missing = []
    for name in named:
        cls, _, method = name.partition(".")
        if cls not in classes or (method and method not in classes[cls]):
            missing.append(name)
    assert missing == []


def _service_packages() -> list[Path]:
    return sorted(p for p in SERVICES.iterdir() if (p / "wiring.py").is_file())


@pytest.mark.parametrize("package", _service_packages(), ids=lambda p: p.name)
def test_a_service_imports_only_itself_and_the_platform(package: Path) -> None:
    allowed = {f"services.{package.name}", "services.platform"}
    for path in package.rglob("*.py"):
        for module in _imports(path):
            if module.startswith("services."):
                assert ".".join(module.split(".")[:2]) in allowed, f"{path}: {module}"


def test_the_platform_imports_no_service() -> None:
    for path in (SERVICES / "platform").rglob("*.py"):
        for module in _imports(path):
            if module.startswith("services."):
                assert module.startswith("services.platform"), f"{path}: {module}"


@pytest.mark.parametrize("package", _service_packages(), ids=lambda p: p.name)
def test_the_domain_imports_no_driver_and_no_adapter(package: Path) -> None:
    for name in DOMAIN:
        path = package / name
        assert path.is_file(), f"every service has {name}"
        for module in _imports(path):
            top = module.split(".")[0]
            assert top not in DRIVERS, f"{path}: {module}"
            assert not module.startswith(
                tuple(f"services.{package.name}.{part}" for part in ("adapters", "consumers"))
            ), f"{path}: {module}"
            assert module not in {f"services.{package.name}.{m}" for m in (*EDGES, "wiring")}


@pytest.mark.parametrize("package", _service_packages(), ids=lambda p: p.name)
def test_every_service_has_the_same_shape(package: Path) -> None:
    for name in ("__main__.py", *DOMAIN, "wiring.py", "README.md"):
        assert (package / name).is_file(), f"{package.name} lacks {name}"
    edges = [name for name in EDGES if (package / f"{name}.py").is_file()]
    # gRPC (servicer.py), HTTP (routes.py), or both (media: its bytes with byte ranges)
    assert edges, f"{package.name} serves gRPC (servicer.py) or HTTP (routes.py)"
    assert (package / "adapters" / "__init__.py").is_file(), f"{package.name} lacks adapters/"
