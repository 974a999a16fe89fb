"""The local stack's process handling, with real child processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devstack import stack
from devstack.components import Component
from devstack.process import ManagedProcess


@pytest.fixture
def process() -> Iterator[ManagedProcess]:
    managed = ManagedProcess(f"test-{uuid.uuid4().hex[:8]}")
    yield managed
    managed.stop(timeout_seconds=2)
    managed.log_file.unlink(missing_ok=True)


def _component(name: str, script: str, probe_reason: str | None) -> Component:
    return Component(
        name=name,
        stage="store",
        ports=(),
        command=lambda: ["sh", "-c", script],
        probe=lambda: probe_reason,
        start_timeout=3,
    )


def test_a_started_process_is_tracked_and_stopped(process: ManagedProcess) -> None:
    pid = process.start(["sleep", "60"])
    assert process.pid() == pid
    assert process.stop(timeout_seconds=5) is False
    assert process.pid() is None
    assert not process.was_started()


def test_a_process_that_ignores_sigterm_is_killed(process: ManagedProcess) -> None:
    process.start(["sh", "-c", "trap '' TERM; echo ready; sleep 60"])
    while process.log_tail().splitlines()[-1] != "ready":  # the trap is set from here on
        pass
    assert process.stop(timeout_seconds=0.5) is True
    assert process.pid() is None


def test_an_exited_process_is_reported_dead_with_its_log(process: ManagedProcess) -> None:
    process.start(["sh", "-c", "echo 'fatal: bad config'; exit 3"])
    while process.pid() is not None:
        pass
    assert process.was_started()
    assert "fatal: bad config" in process.log_tail()


def test_a_recycled_pid_is_not_mistaken_for_ours(process: ManagedProcess) -> None:
    pid = process.start(["sleep", "60"])
    process.pid_file.write_text(f"{pid} 1\n")  # same pid, another start time
    assert process.pid() is None


def test_starting_fails_clearly_when_a_component_dies(process: ManagedProcess) -> None:
    component = _component(process.name, "echo 'cannot bind 127.0.0.1:1'; exit 1", "not yet")
    with pytest.raises(stack.StackError, match="exited while starting") as raised:
        stack.start([component])
    assert "cannot bind 127.0.0.1:1" in str(raised.value)
    assert not process.was_started()  # stopped again, nothing left behind


def test_starting_times_out_with_the_probe_reason(process: ManagedProcess) -> None:
    component = _component(process.name, "sleep 60", "port 1: connection refused")
    with pytest.raises(
        stack.StackError, match="not ready after 3s \\(port 1: connection refused\\)"
    ):
        stack.start([component])
    assert process.pid() is None


def test_starting_twice_starts_once(process: ManagedProcess) -> None:
    component = _component(process.name, "sleep 60", None)
    assert stack.start([component]) == [component]
    pid = process.pid()
    assert stack.start([component]) == []
    assert process.pid() == pid
