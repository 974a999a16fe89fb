"""Where the local stack keeps things: data under ``.data/``, downloads under ``.cache/``."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
CACHE = ROOT / ".cache"
RUN = DATA / "run"
LOGS = DATA / "logs"
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
PYTHON = VENV_BIN / "python"
