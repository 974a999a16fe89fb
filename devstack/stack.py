"""Starting, checking and stopping the stack, stage by stage, and saying clearly what failed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence

from devstack import monitoring, ports, probes, supervisor, tls
from devstack.components import (
    COMPONENTS,
    GATEWAY_PORT,
    GATEWAY_TLS_PORT,
    SERVICE_PORTS,
    STAGES,
    Component,
    chirp_env,
    form_stores,
)
from devstack.paths import DATA, PYTHON, ROOT
from devstack.process import ManagedProcess
from devstack.supervisor import Restarts, Supervisor, launch

#: How long an aborted test run is given to print its stacks before it is killed.
STACK_DUMP_SECONDS = 10


class StackError(Exception):
    """A component could not be started; the message says which and why."""


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def _process(component: Component) -> ManagedProcess:
    return ManagedProcess(component.name)


def start(
    components: Sequence[Component], before_services: Callable[[], None] | None = None
) -> list[Component]:
    """Starts what is not running yet, stage by stage, and waits until each is ready;
    ``before_services`` runs once the stores are up and migrated (``make restore`` loads them).

    Returns the components this call started (so a caller can stop exactly those). On failure
    it stops them again and raises ``StackError`` with the log tail of what failed.
    """
    _reserve_ports(components)
    started: list[Component] = []
    try:
        for stage in STAGES:
            batch = [component for component in components if component.stage == stage]
            if not batch:
                continue
            if stage == "service":
                migrate()
                if before_services is not None:
                    before_services()
            _launch(batch, started)
            _wait_ready(batch)
            if stage == "store":
                form_stores()
    except BaseException:
        stop(started)
        raise
    return started


def _reserve_ports(components: Sequence[Component]) -> None:
    """Keeps outgoing connections off the components' ports (``devstack/ports.py``)."""
    try:
        reserved = ports.reserve(port for component in components for port in component.ports)
    except OSError as error:
        say(f"could not keep outgoing connections off the stack's ports ({error}); going on")
        return
    if reserved:
        say(f"ports kept for the stack's servers: {', '.join(map(str, reserved))}")


def start_and_report(components: Sequence[Component]) -> int:
    """``make start``: like ``start``, then supervised in the background; as an exit code with
    the failure printed."""
    try:
        start(components)
    except StackError as error:
        say(f"FAILED: {error}")
        return 1
    start_supervisor()
    return 0


def env() -> dict[str, str]:
    """What a Python process of the project needs to find its code, the stack's data and (in
    the cluster shape) every node and process of the stack."""
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}",
        "CHIRP_DATA_DIR": str(DATA),
        **chirp_env(),
    }


def start_supervisor() -> bool:
    """Starts the background supervisor (``python -m devstack supervise``) unless one runs;
    True if this call started it."""
    process = ManagedProcess(supervisor.NAME)
    if process.pid() is not None:
        return False
    pid = process.start([str(PYTHON), "-m", "devstack", "supervise"], env=env(), cwd=ROOT)
    say(f"supervisor: started (pid {pid}): a component that dies is started again")
    return True


def stop_supervisor() -> None:
    """Stops the background supervisor, before the components, so it restarts none of them."""
    ManagedProcess(supervisor.NAME).stop(10)


def supervise() -> int:
    """``python -m devstack supervise``: the background supervisor, until SIGTERM."""
    say("supervising " + ", ".join(component.name for component in COMPONENTS))
    Supervisor(COMPONENTS, say).run_until_signalled()
    return 0


def _launch(batch: list[Component], started: list[Component]) -> None:
    """Starts each component of ``batch`` that is not running, recording it in ``started``."""
    for component in batch:
        process = _process(component)
        if process.pid() is not None:
            say(f"{component.name}: already running (pid {process.pid()})")
            continue
        busy = [port for port in component.ports if probes.tcp(port, component.host) is None]
        if busy:
            raise StackError(
                f"{component.name}: port(s) {busy} are taken by a process this stack did not "
                "start; stop it (or `make stop` if it is an old Chirp stack) and try again"
            )
        pid = launch(component)
        Restarts.forget(component.name)
        started.append(component)
        say(f"{component.name}: started (pid {pid}), log {process.log_file.relative_to(ROOT)}")


def _wait_ready(batch: list[Component]) -> None:
    began = time.monotonic()
    waiting = {component.name: component for component in batch}
    while waiting:
        for name, component in list(waiting.items()):
            process = _process(component)
            if process.pid() is None:
                raise StackError(
                    f"{name} exited while starting; last lines of {process.log_file}:\n"
                    f"{process.log_tail()}"
                )
            reason = component.probe()
            if reason is None:
                say(f"{name}: ready in {time.monotonic() - began:.1f}s")
                del waiting[name]
            elif time.monotonic() - began > component.start_timeout:
                raise StackError(
                    f"{name} not ready after {component.start_timeout:.0f}s ({reason}); "
                    f"last lines of {process.log_file}:\n{process.log_tail()}"
                )
        if waiting:
            time.sleep(0.5)


def migrate() -> None:
    """Applies the versioned schema (CQL, Neo4j, JetStream); idempotent, so it runs every start."""
    result = subprocess.run(
        [str(PYTHON), "-m", "services.platform.migrate"],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"schema migration failed:\n{result.stdout}{result.stderr}")
    say("schema: up to date")


def stop(components: Sequence[Component]) -> None:
    """Stops the given components in reverse start order; ones not running are skipped."""
    for component in reversed(components):
        process = _process(component)
        if not process.was_started():
            continue
        running = process.pid() is not None
        killed = process.stop(component.stop_timeout)
        if running:
            say(f"{component.name}: {'killed after timeout' if killed else 'stopped'}")


def status(components: Sequence[Component]) -> bool:
    """Prints one line per component; True when every one is running and healthy."""
    healthy = True
    for component in components:
        process = _process(component)
        pid = process.pid()
        if pid is None:
            state = (
                "dead (see " + str(process.log_file.relative_to(ROOT)) + ")"
                if process.was_started()
                else "stopped"
            )
            healthy = False
        else:
            reason = component.probe()
            state = f"healthy (pid {pid})" if reason is None else f"UNHEALTHY (pid {pid}): {reason}"
            healthy = healthy and reason is None
        restarts = Restarts.of(component.name)
        if restarts.count:
            ago = time.time() - restarts.last
            state += f"; restarted {restarts.count} time(s), last {ago:.0f}s ago"
        print(f"{component.name:<12} {','.join(map(str, component.ports)):<12} {state}")
    watching = ManagedProcess(supervisor.NAME).pid()
    print(f"{'supervisor':<12} {'':<12} " + (f"running (pid {watching})" if watching else "off"))
    return healthy


def run_foreground() -> int:
    """``make run``: start everything and supervise it until Ctrl-C (a component that dies is
    started again)."""
    components = list(COMPONENTS)
    stop_supervisor()  # one left by `make start`: this run supervises itself
    try:
        if start_and_report(components) != 0:
            return 1
    except KeyboardInterrupt:
        say("interrupted while starting; what had started is stopped again")
        return 130
    say(f"gateway: http://localhost:{GATEWAY_PORT}  (try: curl localhost:{GATEWAY_PORT}/v1/trends)")
    say(
        f"gateway over HTTPS: https://localhost:{GATEWAY_TLS_PORT}, certified by the local "
        f"authority {tls.FILES.ca} (try: curl --cacert {tls.FILES.ca} "
        f"https://localhost:{GATEWAY_TLS_PORT}/v1/trends)"
    )
    say("services: " + ", ".join(f"{name} :{ports[0]}" for name, ports in SERVICE_PORTS.items()))
    say(f"Mastodon apps: point them at http://localhost:{GATEWAY_PORT}")
    say(
        f"Prometheus: http://localhost:{monitoring.PROMETHEUS_PORT} (every process's metrics, "
        f"the rules and alerts of deploy/prometheus/rules; try /alerts)"
    )
    say(
        f"Jaeger: http://localhost:{monitoring.JAEGER_UI_PORT} (a trace of every request; "
        f"a log line's trace_id finds its trace)"
    )
    say("Ctrl-C stops everything.")
    Supervisor(components, say).run_until_signalled()
    say("stopping")
    stop(components)
    return 0


def run_with_stack(argv: Sequence[str], limit_seconds: float | None = None) -> int:
    """``make test`` and ``make bench``: start what is not running and supervise it, run
    ``argv`` (a module of the virtualenv's Python), stop what this run started; the exit code
    is the command's. A run
    past ``limit_seconds`` is aborted with SIGABRT, on which Python's faulthandler (on in pytest)
    prints every thread's stack, and fails."""
    started: list[Component] = []
    supervising = False
    try:
        started = start(list(COMPONENTS))
        supervising = start_supervisor()
        with subprocess.Popen([str(PYTHON), "-m", *argv], cwd=ROOT, env=env()) as command:
            try:
                return command.wait(timeout=limit_seconds)
            except subprocess.TimeoutExpired:
                say(f"FAILED: {argv[0]} still running after {limit_seconds:.0f}s; aborting it")
                command.send_signal(signal.SIGABRT)
                try:
                    command.wait(timeout=STACK_DUMP_SECONDS)
                except subprocess.TimeoutExpired:
                    command.kill()
                return 1
            finally:
                if command.poll() is None:
                    command.kill()
    except StackError as error:
        say(f"FAILED: {error}")
        return 1
    finally:
        if supervising:
            stop_supervisor()
        stop(started)
