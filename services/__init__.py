"""Chirp's gRPC services: one package per service plus the shared ``platform``.

gRPC's fork handlers are turned off here, before any service imports ``grpc``: uvloop starts a
child process with ``fork()``, which runs gRPC's handlers in the child, and those restart
gRPC's threads in a copy of a busy process only for ``exec`` to replace it; about one child in
fifty died of SIGSEGV before it became ffprobe (the media service's "stopped by signal 11" on
valid uploads). Chirp never forks a process that goes on using gRPC (its workers are spawned),
so the handlers have nothing to protect. A value set in the environment wins.
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
