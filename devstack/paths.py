"""Where the local stack keeps things: data under ``.data/`` (``.data-cluster/`` for the cluster
shape), downloads under ``.cache/``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

Shape = Literal["single", "cluster"]


def _shape() -> Shape:
    shape = os.environ.get("CHIRP_SHAPE", "single")
    if shape not in ("single", "cluster"):
        raise SystemExit(f"CHIRP_SHAPE must be single or cluster, not {shape!r}")
    return "cluster" if shape == "cluster" else "single"


#: The stack's shape, ``CHIRP_SHAPE``: ``single`` (``make run``: one process of everything, the
#: default) or ``cluster`` (``make cluster``: production's topology on this machine). Each shape
#: keeps its own data, so switching between them never mixes a single node's files into a ring.
SHAPE: Shape = _shape()
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / (".data" if SHAPE == "single" else ".data-cluster")
CACHE = ROOT / ".cache"
RUN = DATA / "run"
LOGS = DATA / "logs"
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
PYTHON = VENV_BIN / "python"
