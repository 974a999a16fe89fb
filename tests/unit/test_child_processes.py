"""Child processes started by a service while gRPC is busy (the media service's ffprobe and
ffmpeg): each one must become its program, not die in gRPC's fork handlers."""

from __future__ import annotations

import subprocess
import sys

#: Children started under load; about one in fifty died with gRPC's fork handlers on.
CHILDREN = 400

BUSY_SERVICE_SPAWNING = f"""
import asyncio

import services  # noqa: F401  (what every service imports first)
import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


async def main() -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{{port}}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        done = asyncio.Event()

        async def keep_busy() -> None:
            while not done.is_set():
                await stub.Check(health_pb2.HealthCheckRequest())

        callers = [asyncio.create_task(keep_busy()) for _ in range(8)]
        statuses = []
        for _ in range({CHILDREN}):
            child = await asyncio.create_subprocess_exec("true")
            statuses.append(await child.wait())
        done.set()
        await asyncio.gather(*callers)
    await server.stop(None)
    print(sorted(set(statuses)))


uvloop.run(main())
"""


def test_children_started_on_uvloop_under_grpc_load_all_run_their_program() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", BUSY_SERVICE_SPAWNING],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.strip() == "[0]", finished.stderr[-2000:]
