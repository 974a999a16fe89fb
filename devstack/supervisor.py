"""Restarting what dies: every component of the stack, with backoff, logged and counted.

What compose's ``restart: unless-stopped`` does in production, the supervisor does locally: a
component whose process is gone (it crashed, was killed, ran out of memory) is started again
with the same command and environment, after 1 s, then 2, 4, ... up to 30 s while it keeps
dying, and after 1 s again once it has lived a minute. Each restart is a line in the
supervisor's log and in ``.data/run/<component>.restarts`` (how many, and when the last was),
which ``make status`` shows. ``make run`` supervises in the foreground; ``make start``,
``make test`` and ``make bench`` start the ``supervisor`` process in the background, and
stopping the stack stops it first, so nothing is restarted while it is being stopped.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devstack.components import Component
from devstack.paths import ROOT, RUN
from devstack.process import ManagedProcess

#: The background supervisor's own process name (pid and log files).
NAME = "supervisor"
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0
#: A component that has lived this long is well again: its next restart waits the first delay.
HEALTHY_AFTER_SECONDS = 60.0
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class Restarts:
    """How often a component was restarted, and when last (epoch seconds; 0 if never)."""

    count: int = 0
    last: float = 0.0

    @staticmethod
    def of(name: str) -> Restarts:
        try:
            count, last = (RUN / f"{name}.restarts").read_text().split()
            return Restarts(int(count), float(last))
        except (OSError, ValueError):
            return Restarts()

    @staticmethod
    def forget(name: str) -> None:
        """A component started by hand (not restarted) begins its count again."""
        (RUN / f"{name}.restarts").unlink(missing_ok=True)

    def record(self, name: str, now: float) -> Restarts:
        counted = Restarts(self.count + 1, now)
        RUN.mkdir(parents=True, exist_ok=True)
        (RUN / f"{name}.restarts").write_text(f"{counted.count} {counted.last}\n")
        return counted


@dataclass
class _Watch:
    """What the supervisor knows of one component: since when it runs, and its next delay."""

    delay: float = FIRST_DELAY_SECONDS
    running_since: float | None = None
    due: float | None = None  # when a dead component is started again


@dataclass
class Supervisor:
    components: Sequence[Component]
    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    _watches: dict[str, _Watch] = field(default_factory=dict)

    def tick(self) -> None:
        """Notices deaths and starts again what is due; call it every ``TICK_SECONDS``."""
        now = self.clock()
        for component in self.components:
            process = ManagedProcess(component.name)
            if not process.was_started():
                # stopped on purpose (or never started): not ours to bring back
                self._watches[component.name] = _Watch()
                continue
            watch = self._watches.setdefault(component.name, _Watch())
            if process.pid() is not None:
                watch.due = None
                if watch.running_since is None:
                    watch.running_since = now
                elif now - watch.running_since >= HEALTHY_AFTER_SECONDS:
                    watch.delay = FIRST_DELAY_SECONDS
                continue
            if watch.due is None:
                watch.due = now + watch.delay
                watch.running_since = None
                self.say(
                    f"{component.name} DIED; starting it again in {watch.delay:.0f}s; last lines "
                    f"of its log:\n{process.log_tail(5)}"
                )
            elif now >= watch.due:
                self._restart(component, watch)

    def _restart(self, component: Component, watch: _Watch) -> None:
        pid = launch(component)
        restarts = Restarts.of(component.name).record(component.name, time.time())
        self.say(f"{component.name}: started again (pid {pid}), restart {restarts.count}")
        watch.due = None
        watch.delay = min(watch.delay * 2, MAX_DELAY_SECONDS)

    def run(self, until: Callable[[], bool]) -> None:
        while not until():
            self.tick()
            time.sleep(TICK_SECONDS)

    def run_until_signalled(self) -> None:
        """Supervises until SIGTERM or SIGINT (Ctrl-C)."""
        stopping = False

        def stop(_signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.run(until=lambda: stopping)


def launch(component: Component) -> int:
    """Prepares and starts the component's process (its pid file and log); its pid."""
    component.prepare()
    return ManagedProcess(component.name).start(
        component.command(), env=dict(component.env), cwd=ROOT
    )
