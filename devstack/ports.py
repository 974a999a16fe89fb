"""Keeping the kernel from lending the stack's listening ports to outgoing connections.

Linux takes the local port of an outgoing connection from ``ip_local_port_range`` (32768 to
60999 by default), where the services' gRPC ports lie (50051 and up; 50151 and up for the
cluster shape's second processes). A connection that takes one of them before its service
binds it stops that service from starting ("Failed to bind to address 127.0.0.1:50156", once,
with the cluster's hundreds of store connections open). ``reserve`` adds the stack's ports in
that range to ``ip_local_reserved_ports``, which the kernel never hands out to a connection but
still lets a server bind. Writing it needs root; without, the stack starts as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
RESERVED_PORTS = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")


def listed(text: str) -> set[int]:
    """The ports of a kernel port list: ``"8080,50051-50057"``."""
    ports: set[int] = set()
    for item in text.replace("\n", "").split(","):
        if not item.strip():
            continue
        first, _, last = item.partition("-")
        ports.update(range(int(first), int(last or first) + 1))
    return ports


def reserve(
    ports: Iterable[int], *, port_range: Path = PORT_RANGE, reserved: Path = RESERVED_PORTS
) -> list[int]:
    """Reserves those of ``ports`` that outgoing connections could take and are not reserved
    yet, keeping what is reserved already; returns them. Raises ``OSError`` if it may not."""
    low, high = (int(bound) for bound in port_range.read_text().split())
    held = reserved.read_text().strip()
    missing = sorted({port for port in ports if low <= port <= high} - listed(held))
    if missing:
        reserved.write_text(",".join([*([held] if held else []), *map(str, missing)]))
    return missing
