"""Reserving the stack's listening ports from the kernel's ephemeral range (``devstack/ports.py``),
on files standing in for /proc/sys (the real ones need root and change the machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import ports


@pytest.fixture
def proc(tmp_path: Path) -> tuple[Path, Path]:
    port_range, reserved = tmp_path / "ip_local_port_range", tmp_path / "ip_local_reserved_ports"
    port_range.write_text("32768\t60999\n")
    reserved.write_text("\n")
    return port_range, reserved


def test_only_ports_outgoing_connections_could_take_are_reserved(proc: tuple[Path, Path]) -> None:
    port_range, reserved = proc
    added = ports.reserve([8080, 9042, 50051, 50151], port_range=port_range, reserved=reserved)
    assert added == [50051, 50151]
    assert ports.listed(reserved.read_text()) == {50051, 50151}


def test_what_is_reserved_already_is_kept_and_not_added_twice(proc: tuple[Path, Path]) -> None:
    port_range, reserved = proc
    reserved.write_text("40000-40002,50051\n")
    added = ports.reserve([50051, 50052], port_range=port_range, reserved=reserved)
    assert added == [50052]
    assert ports.listed(reserved.read_text()) == {40000, 40001, 40002, 50051, 50052}
    assert ports.reserve([50052], port_range=port_range, reserved=reserved) == []
