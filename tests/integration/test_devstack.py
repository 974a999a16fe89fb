"""The local stack as a newcomer drives it: status, and starting what already runs."""

from __future__ import annotations

import subprocess

from devstack.components import COMPONENTS
from devstack.paths import PYTHON, ROOT
from devstack.process import ManagedProcess


def _devstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PYTHON), "-m", "devstack", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_status_reports_every_component_healthy() -> None:
    result = _devstack("status")
    assert result.returncode == 0, result.stdout
    *lines, watching = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [component.name for component in COMPONENTS]
    assert all(" healthy (pid " in line for line in lines)
    # `make test` supervises the stack it runs on
    assert watching.split()[:2] == ["supervisor", "running"], watching


def test_starting_a_running_stack_again_starts_nothing() -> None:
    before = {component.name: ManagedProcess(component.name).pid() for component in COMPONENTS}
    result = _devstack("start", "redis", "nats", "users")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("already running") == 3
    assert "started (pid" not in result.stdout
    after = {component.name: ManagedProcess(component.name).pid() for component in COMPONENTS}
    assert after == before


def test_unknown_components_are_refused_by_name() -> None:
    result = _devstack("start", "mongodb")
    assert result.returncode != 0
    assert "unknown component(s): mongodb" in result.stderr
