"""Test photos made with Pillow: every accepted format, EXIF with a GPS position, animations."""

from __future__ import annotations

import io

from PIL import Image

#: EXIF tags: the GPS IFD pointer and the orientation.
GPS_IFD = 0x8825
ORIENTATION = 0x0112
#: "Rotate 90° clockwise to display": a landscape-stored photo that shows as portrait.
ROTATED = 6


def still(fmt: str, size: tuple[int, int] = (120, 80), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 40, 40)).save(buffer, fmt)
    return buffer.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (640, 480), *, rotated: bool = False) -> bytes:
    """A JPEG carrying a GPS position (Berlin) and, if asked, an orientation to apply."""
    exif = Image.Exif()
    exif[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 17.0)}
    exif[0x010F] = "Camera maker"
    if rotated:
        exif[ORIENTATION] = ROTATED
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def animated(fmt: str, frames: int = 4, size: tuple[int, int] = (48, 32)) -> bytes:
    images = [Image.new("RGB", size, (index * 50, 90, 10)) for index in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=70, loop=0)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))
