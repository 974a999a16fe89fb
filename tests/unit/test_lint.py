"""The code stays clean: ruff (lint and format) and mypy --strict, as `make lint` runs them."""

from __future__ import annotations

import subprocess

import pytest

from devstack.paths import ROOT, VENV_BIN


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff", "ruff-format", "mypy-strict"],
)
def test_the_code_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [str(VENV_BIN / command[0]), *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
