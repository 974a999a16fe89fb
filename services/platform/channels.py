"""Channels from one service to another: every process of the callee, calls spread over them.

A callee's address (``CHIRP_<SERVICE>_ADDR``) is one ``host:port``, several comma-separated
(``127.0.0.1:50052,127.0.0.1:50152``: the local cluster shape's processes), or any gRPC target
(``dns:///tweets:50052`` in compose, where the name resolves to every replica). Calls go round
robin over the processes that are up: a process that dies leaves the rotation as its connection
fails, and comes back when it answers again, so a caller rides out a killed callee without a
proxy in between.
"""

from __future__ import annotations

import json

import grpc

#: gRPC's service config: round robin over every resolved address (its default, pick_first,
#: sends everything to the first one that answers).
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def target(address: str) -> str:
    """``address`` as a gRPC target: a comma-separated list of ``host:port`` becomes an
    ``ipv4:`` target of all of them; anything else is taken as it is."""
    addresses = [part.strip() for part in address.split(",") if part.strip()]
    if len(addresses) > 1:
        return "ipv4:" + ",".join(addresses)
    return addresses[0] if addresses else address


def service_channel(address: str) -> grpc.aio.Channel:
    """An insecure channel to every process at ``address`` (see the module docstring)."""
    return grpc.aio.insecure_channel(
        target(address), options=[("grpc.service_config", ROUND_ROBIN)]
    )
