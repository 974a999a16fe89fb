"""ffprobe and ffmpeg (Debian's ``ffmpeg`` package), run as child processes under limits.

Every run gets a wall-clock deadline (the process is killed past it), an address-space limit
(a hostile file that makes the decoder allocate without end fails its run, not the service), a
CPU-time limit, a lower priority than the service's own requests, and dies with the service
(``PR_SET_PDEATHSIG``), so a killed worker leaves no transcode running. Files go through a
private temporary folder that is removed after each run.

The limits are set by programs the child runs before it becomes ffmpeg (util-linux's
``setpriv`` and ``prlimit``, coreutils' ``nice``, each exec'ing the next: Debian's essential
packages), not by Python between fork and exec: a forked child of the threaded service that runs
Python (``preexec_fn``) can crash or deadlock on a lock another thread held at the fork. (gRPC's
own fork handlers did crash such children: they are off, see ``services/__init__.py``.)
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from services.media.video import (
    MP4,
    Probe,
    Transcoded,
    VideoFailed,
    VideoLimits,
    parse_probe,
    poster_args,
    probe_args,
    rendition_args,
)
from services.platform.errors import InvalidArgument

#: How long probing an upload may take (it reads headers, not frames).
PROBE_SECONDS = 20.0
#: Characters of ffmpeg's complaint kept as the failure's reason.
REASON_CHARS = 300


@dataclass(frozen=True)
class RunLimits:
    seconds: float
    memory_bytes: int
    threads: int


class FfmpegVideoTools:
    def __init__(self, limits: VideoLimits, run: RunLimits) -> None:
        self._limits = limits
        self._run = run

    async def probe(self, data: bytes, content_type: str) -> Probe:
        kind = "MP4" if content_type == MP4 else "WebM"
        with tempfile.TemporaryDirectory(prefix="chirp-video-") as folder:
            source = Path(folder) / "upload"
            source.write_bytes(data)
            try:
                report = await _run(
                    probe_args(source), PROBE_SECONDS, self._run.memory_bytes, source.parent
                )
            except VideoFailed as error:
                raise InvalidArgument.field(
                    "content", f"starts like {kind} but is not a readable {kind} file ({error})"
                ) from error
        return parse_probe(_json(report), content_type, self._limits)

    async def transcode(self, data: bytes) -> Transcoded:
        with tempfile.TemporaryDirectory(prefix="chirp-video-") as folder:
            source, rendition, poster = (
                Path(folder) / name for name in ("upload", "video", "poster")
            )
            source.write_bytes(data)
            limits = self._run
            await _run(
                rendition_args(source, rendition, self._limits, limits.threads),
                limits.seconds,
                limits.memory_bytes,
                source.parent,
            )
            try:
                report = await _run(
                    probe_args(rendition), PROBE_SECONDS, limits.memory_bytes, source.parent
                )
                served = parse_probe(_json(report), MP4, self._limits)
            except InvalidArgument as error:
                raise VideoFailed(f"the rendition is not playable: {error}") from error
            await _run(
                poster_args(rendition, poster, served.duration_ms),
                limits.seconds,
                limits.memory_bytes,
                source.parent,
            )
            return Transcoded(
                video=rendition.read_bytes(),
                poster=poster.read_bytes(),
                width=served.width,
                height=served.height,
                duration_ms=served.duration_ms,
            )


def _json(report: bytes) -> dict[str, object]:
    try:
        parsed = json.loads(report)
    except ValueError as error:
        raise VideoFailed("ffprobe's report is not JSON") from error
    if not isinstance(parsed, dict):
        raise VideoFailed("ffprobe's report is not an object")
    return parsed


def limited(argv: list[str], memory_bytes: int, cpu_seconds: int) -> list[str]:
    """``argv`` run under the limits (see the module docstring): killed when the service dies,
    its address space and CPU time bounded, at a lower priority."""
    return [
        *("setpriv", "--pdeathsig", "KILL", "--"),
        *("prlimit", f"--as={memory_bytes}", f"--cpu={cpu_seconds}", "--"),
        *("nice", "-n", "10"),
        *argv,
    ]


async def _run(argv: list[str], seconds: float, memory_bytes: int, folder: Path) -> bytes:
    """The program's standard output; ``VideoFailed`` with the end of what it printed on
    errors if it fails (the paths in ``folder`` named by their file name only: a caller sees
    the reason), or if it outlives ``seconds`` (it is killed then)."""
    # Every thread of ffmpeg counts towards the CPU limit: two cores' worth of the deadline.
    cpu_seconds = max(1, int(seconds * 2))
    process = await asyncio.create_subprocess_exec(
        *limited(argv, memory_bytes, cpu_seconds),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(seconds):
            output, errors = await process.communicate()
    except TimeoutError:
        raise VideoFailed(f"{argv[0]} took longer than {seconds:g} s") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    status = process.returncode or 0
    if status != 0:
        lines = errors.decode(errors="replace").strip().splitlines()
        reason = lines[-1].replace(f"{folder}/", "") if lines else f"exit status {status}"
        if status < 0:
            reason = f"stopped by signal {-status} (a time or memory limit)"
        raise VideoFailed(f"{argv[0]} failed: {reason[:REASON_CHARS]}")
    return output
