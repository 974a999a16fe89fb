"""A test that hangs fails within the suite's time limit, and says where it hung."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_hanging_test_or_teardown_fails_within_its_limit_with_the_stack() -> None:
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "timeout=2",
         "tests/unit/hanging.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert time.monotonic() - began < 60
    assert "FAILED tests/unit/hanging.py::test_an_await_that_never_ends" in output
    assert "ERROR tests/unit/hanging.py::test_a_teardown_that_never_ends" in output
    # One failure report each (the short summary may repeat it, by terminal width):
    reports = [line for line in output.splitlines() if line.startswith("E ")]
    assert sum("Failed: Timeout (>2.0s) from pytest-timeout" in line for line in reports) == 2
    # Where the test's coroutine waits, from the dump of the asyncio tasks:
    assert "in stuck_in_the_test\n    await asyncio.Event().wait()" in output, output
