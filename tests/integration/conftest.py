"""Fixtures shared by the integration tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import tls
from services.platform import store_tls


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts (and may kill); whatever still runs is killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def _trust_only(monkeypatch: pytest.MonkeyPatch, authority: Path) -> Iterator[None]:
    """Chirp's store clients trusting ``authority`` alone (``CHIRP_STORE_TLS_CA_FILE``), their
    one TLS context made again from it, and forgotten after the test."""
    monkeypatch.setenv("CHIRP_STORE_TLS_CA_FILE", str(authority))
    store_tls.client_context.cache_clear()
    yield
    store_tls.client_context.cache_clear()


@pytest.fixture
def trusting_local(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As the mutual-TLS run starts every process: trusting the local authority, whose store
    certificate the local stores serve."""
    yield from _trust_only(monkeypatch, tls.FILES.ca)


@pytest.fixture
def trusting_another(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Trusting a fresh authority of the test's own, which never certified a store."""
    yield from _trust_only(monkeypatch, tls.ensure(tls.Files.under(tmp_path)).ca)
