"""``make gen``: Python stubs (with ``.pyi``) into ``gen/`` and Envoy's descriptor set.

Both outputs are committed; ``tests/test_gen_fresh.py`` regenerates into a temporary folder and
fails when the committed files differ, so a proto change without ``make gen`` cannot land.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from devstack.paths import ROOT, VENV_BIN

PROTO_ROOT = ROOT / "proto"
THIRD_PARTY = ROOT / "third_party" / "googleapis"
GEN = ROOT / "gen"
DESCRIPTOR_SET = ROOT / "gateway" / "chirp.pb"
#: Not imported by Chirp's protos, but the gateway renders these ``google.rpc`` error details.
EXTRA_DESCRIPTOR_INPUTS = ("google/rpc/status.proto", "google/rpc/error_details.proto")


def chirp_protos() -> list[str]:
    return sorted(str(path.relative_to(PROTO_ROOT)) for path in PROTO_ROOT.rglob("*.proto"))


def _protoc(*args: str) -> None:
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc",
            f"-I{PROTO_ROOT}", f"-I{THIRD_PARTY}",
            f"--plugin=protoc-gen-mypy={VENV_BIN / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={VENV_BIN / 'protoc-gen-mypy_grpc'}",
            *args,
        ],
        check=True,
        cwd=ROOT,
    )  # fmt: skip


def generate(gen_dir: Path, descriptor_set: Path) -> None:
    """Writes the stubs under ``gen_dir`` and the descriptor set to ``descriptor_set``."""
    gen_dir.mkdir(parents=True, exist_ok=True)
    protos = chirp_protos()
    _protoc(
        f"--python_out={gen_dir}",
        f"--grpc_python_out={gen_dir}",
        f"--mypy_out={gen_dir}",
        f"--mypy_grpc_out={gen_dir}",
        *protos,
    )
    for module in gen_dir.rglob("*.py"):
        for package in module.relative_to(gen_dir).parents[:-1]:
            (gen_dir / package / "__init__.py").touch()
    _protoc(
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={descriptor_set}",
        *protos,
        *EXTRA_DESCRIPTOR_INPUTS,
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "gen"
        generate(fresh, Path(scratch) / "chirp.pb")
        shutil.rmtree(GEN, ignore_errors=True)
        shutil.copytree(fresh, GEN)
        shutil.copyfile(Path(scratch) / "chirp.pb", DESCRIPTOR_SET)
    outputs = f"{GEN.relative_to(ROOT)}/, {DESCRIPTOR_SET.relative_to(ROOT)}"
    print(f"[gen] {len(chirp_protos())} protos -> {outputs}")


if __name__ == "__main__":
    main()
