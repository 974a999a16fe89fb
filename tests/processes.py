"""Servers a test starts of its own: free ports, and service processes that serve."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from devstack.paths import PYTHON, ROOT
from services.platform.healthcheck import not_serving_reason

#: Log characters shown when a service does not come up.
LOG_TAIL = 3000


def free_port() -> int:
    """A loopback port nothing listens on now (the OS's pick; free until someone binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_service(
    name: str, env: Mapping[str, str], log: Path, address: str, timeout_seconds: float = 60
) -> subprocess.Popen[bytes]:
    """``python -m services.<name>`` with ``env``, its output appended to ``log``, once its
    health check at ``address`` answers SERVING (the test fails with the log's tail if it dies
    or does not within ``timeout_seconds``)."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(PYTHON), "-m", f"services.{name}"],
            cwd=ROOT,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout_seconds
    while not_serving_reason(address, timeout_seconds=1) is not None:
        assert process.poll() is None, log.read_text()[-LOG_TAIL:]
        assert time.monotonic() < deadline, log.read_text()[-LOG_TAIL:]
        time.sleep(0.05)
    return process
