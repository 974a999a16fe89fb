"""The contracts: buf lint, generated code in step with proto/, the HTTP surface of the design."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from devstack.gen import DESCRIPTOR_SET, GEN, generate
from devstack.paths import ROOT, VENV_BIN

#: The HTTP surface external clients rely on, each route of which must stay an annotated RPC:
#: (method, path with variables elided).
HTTP_SURFACE = {
    ("POST", "/v1/users"),
    ("POST", "/v1/sessions"),
    ("GET", "/v1/users/*"),
    ("GET", "/v1/users/me"),
    ("PATCH", "/v1/users/me"),
    ("POST", "/v1/tweets"),
    ("GET", "/v1/tweets/*"),
    ("PATCH", "/v1/tweets/*"),
    ("DELETE", "/v1/tweets/*"),
    ("GET", "/v1/tweets/*/history"),
    ("POST", "/v1/tweets/*:like"),
    ("POST", "/v1/tweets/*:unlike"),
    ("POST", "/v1/tweets/*:retweet"),
    ("POST", "/v1/tweets/*:unretweet"),
    ("GET", "/v1/tweets/*/likes"),
    ("GET", "/v1/tweets/*/replies"),
    ("GET", "/v1/users/*/tweets"),
    ("GET", "/v1/users/*/likes"),
    ("POST", "/v1/users/*:follow"),
    ("POST", "/v1/users/*:unfollow"),
    ("GET", "/v1/users/*/followers"),
    ("GET", "/v1/users/*/following"),
    ("GET", "/v1/users/me/suggestions"),
    ("GET", "/v1/timelines/home"),
    ("POST", "/v1/media"),
    ("GET", "/v1/search/tweets"),
    ("GET", "/v1/search/users"),
    ("GET", "/v1/trends"),
}


def _http_rules() -> set[tuple[str, str]]:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    rules = set()
    for file in files.file:
        if not file.package.startswith("chirp."):
            continue
        for service in file.service:
            for method in service.method:
                rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
                pattern = rule.WhichOneof("pattern")
                if pattern is None or pattern == "custom":
                    continue
                path = getattr(rule, pattern)
                elided = "/".join(
                    "*" + (segment.split("}", 1)[1] if "}" in segment else "")
                    if segment.startswith("{")
                    else segment
                    for segment in path.split("/")
                )
                rules.add((pattern.upper(), elided))
    return rules


def test_every_row_of_the_http_surface_is_an_annotated_rpc() -> None:
    missing = HTTP_SURFACE - _http_rules()
    assert not missing, f"routes of the HTTP surface without an RPC: {sorted(missing)}"


def test_buf_lint_is_clean() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "buf"), "lint"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_catches_a_violation(tmp_path: Path) -> None:
    """Guards the test above: the lint configuration really checks the STANDARD rules."""
    bad = tmp_path / "proto" / "chirp" / "bad" / "v1"
    bad.mkdir(parents=True)
    (bad / "bad.proto").write_text(
        'syntax = "proto3";\npackage chirp.bad.v1;\nenum color { RED = 0; }\n'
    )
    (tmp_path / "buf.yaml").write_text(
        "version: v2\nmodules:\n  - path: proto\nlint:\n  use: [STANDARD]\n"
    )
    result = subprocess.run(
        [str(VENV_BIN / "buf"), "lint"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "ENUM_PASCAL_CASE" in result.stdout or "should be PascalCase" in result.stdout


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    generate(tmp_path / "gen", tmp_path / "chirp.pb")
    comparison = filecmp.dircmp(tmp_path / "gen", GEN)
    stale: list[str] = []

    def collect(diff: filecmp.dircmp[str], prefix: str) -> None:
        stale.extend(prefix + name for name in diff.left_only + diff.right_only + diff.diff_files)
        # dircmp compares by size and mtime first: compare contents to be sure.
        stale.extend(
            prefix + name
            for name in diff.same_files
            if (Path(diff.left) / name).read_bytes() != (Path(diff.right) / name).read_bytes()
        )
        for name, sub in diff.subdirs.items():
            collect(sub, f"{prefix}{name}/")

    collect(comparison, "gen/")
    if (tmp_path / "chirp.pb").read_bytes() != DESCRIPTOR_SET.read_bytes():
        stale.append(str(DESCRIPTOR_SET.relative_to(ROOT)))
    assert not stale, f"stale generated files (run `make gen`): {stale}"
