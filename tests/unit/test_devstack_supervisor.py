"""The supervisor restarts what dies, with backoff, and leaves alone what was stopped on purpose:
real child processes, a clock the test moves."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import pytest

from devstack import supervisor
from devstack.components import Component
from devstack.paths import RUN
from devstack.process import ManagedProcess
from devstack.supervisor import Restarts, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def component() -> Iterator[Component]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield Component(
        name=name,
        stage="service",
        ports=(),
        command=lambda: ["sleep", "60"],
        probe=lambda: None,
        start_timeout=3,
    )
    process = ManagedProcess(name)
    process.stop(timeout_seconds=2)
    process.log_file.unlink(missing_ok=True)
    (RUN / f"{name}.restarts").unlink(missing_ok=True)


def _kill(process: ManagedProcess) -> None:
    pid = process.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while process.pid() is not None:
        time.sleep(0.01)


def test_a_dead_component_is_started_again_later_and_later(component: Component) -> None:
    said: list[str] = []
    clock = Clock()
    watching = Supervisor([component], said.append, clock)
    process = ManagedProcess(component.name)
    first = process.start(component.command())
    watching.tick()
    assert said == []  # running: nothing to do

    for restart, delay in enumerate([1.0, 2.0, 4.0], start=1):
        _kill(process)
        watching.tick()
        assert f"{component.name} DIED; starting it again in {delay:.0f}s" in said[-1]
        clock.now += delay - 0.1
        watching.tick()
        assert process.pid() is None  # not before its delay
        clock.now += 0.1
        watching.tick()
        assert process.pid() not in (None, first)
        assert Restarts.of(component.name).count == restart
        assert said[-1].endswith(f"restart {restart}")
        watching.tick()


def test_the_delay_is_short_again_once_it_has_run_a_while(component: Component) -> None:
    clock = Clock()
    said: list[str] = []
    watching = Supervisor([component], said.append, clock)
    process = ManagedProcess(component.name)
    process.start(component.command())
    for _ in range(3):  # three quick deaths: the next delay would be 8 s
        watching.tick()
        _kill(process)
        watching.tick()
        clock.now += supervisor.MAX_DELAY_SECONDS
        watching.tick()
    watching.tick()
    clock.now += supervisor.HEALTHY_AFTER_SECONDS
    watching.tick()
    _kill(process)
    watching.tick()
    assert "starting it again in 1s" in said[-1]


def test_a_component_stopped_on_purpose_stays_stopped(component: Component) -> None:
    clock = Clock()
    watching = Supervisor([component], lambda _: None, clock)
    process = ManagedProcess(component.name)
    process.start(component.command())
    watching.tick()
    process.stop(timeout_seconds=2)
    watching.tick()
    clock.now += supervisor.MAX_DELAY_SECONDS
    watching.tick()
    assert process.pid() is None
    assert Restarts.of(component.name).count == 0
