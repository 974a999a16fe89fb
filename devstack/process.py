"""Background processes tracked by pid files, so a later command can find, check and stop them.

A pid file holds the pid and the process's start time (from ``/proc``), so a recycled pid is
never mistaken for a server we started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.paths import LOGS, RUN


def _start_ticks(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return fields[19]


@dataclass(frozen=True)
class ManagedProcess:
    """One named background process: its pid file and its log file."""

    name: str

    @property
    def pid_file(self) -> Path:
        return RUN / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return LOGS / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid when the recorded process is still alive, else None."""
        try:
            pid_text, ticks = self.pid_file.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        return pid if _start_ticks(pid) == ticks else None

    def was_started(self) -> bool:
        """A pid file exists: started by us, whether or not it still runs."""
        return self.pid_file.exists()

    def start(
        self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        RUN.mkdir(parents=True, exist_ok=True)
        LOGS.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n--- starting {self.name}: {' '.join(argv)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                # Ctrl-C in the terminal reaches devstack alone, which then stops us in order.
                start_new_session=True,
            )
        ticks = None
        while ticks is None and process.poll() is None:
            ticks = _start_ticks(process.pid)
        self.pid_file.write_text(f"{process.pid} {ticks}\n")
        return process.pid

    def stop(self, timeout_seconds: float) -> bool:
        """SIGTERM, then SIGKILL after the timeout. True when it had to be killed."""
        pid = self.pid()
        killed = False
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_seconds
            while self.pid() is not None and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.1)
            if self.pid() is not None:
                os.killpg(pid, signal.SIGKILL)
                killed = True
                while self.pid() is not None:
                    _reap(pid)
                    time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return killed

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _reap(pid: int) -> None:
    """Collects our own exited child so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
