"""Videos made by ffmpeg for the tests (its lavfi test sources: a test card and a tone)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def made(
    folder: Path,
    name: str = "clip.mp4",
    *,
    size: str = "320x240",
    seconds: float = 2,
    rate: int = 25,
    video: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    audio: tuple[str, ...] = ("-c:a", "aac"),
    extra: tuple[str, ...] = (),
) -> bytes:
    """A video of ``size`` lasting ``seconds``, encoded with ``video`` and ``audio`` options
    (``()`` for no audio), written to ``folder/name`` (its suffix picks the container)."""
    target = folder / name
    sources = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        sources += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", *sources, "-t", f"{seconds:g}",
            *video, *audio, *extra, "-shortest", str(target),
        ],
        check=True,
    )  # fmt: skip
    return target.read_bytes()
