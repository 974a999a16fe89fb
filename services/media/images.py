"""Photos in, clean photos out: type detection, decoding limits, re-encoding and thumbnails.

Pure and synchronous (Pillow is CPU-bound): the service runs ``process`` in a worker thread.
An upload is recognised by its bytes (magic numbers, then Pillow's own verification), never
by the Content-Type a client sent. It is decoded and encoded again, so nothing but pixels
(and the ICC colour profile, which carries no personal data) survives: EXIF (GPS position,
camera serial), XMP, IPTC, PNG text chunks and GIF comments are all dropped. EXIF orientation
is applied to the pixels first, so the photo still shows the right way up.

Animated GIFs and WebPs stay animated (every frame re-encoded, with its duration and the loop
count); their thumbnail is the first frame.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from services.platform.errors import InvalidArgument

#: Magic numbers of the accepted formats: (prefix, offset) pairs that must all match.
_SIGNATURES: dict[str, tuple[tuple[bytes, int], ...]] = {
    "image/jpeg": ((b"\xff\xd8\xff", 0),),
    "image/png": ((b"\x89PNG\r\n\x1a\n", 0),),
    "image/gif": ((b"GIF87a", 0),),
    "image/webp": ((b"RIFF", 0), (b"WEBP", 8)),
}
_GIF89 = b"GIF89a"
#: Pillow's name for each accepted type.
_PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
JPEG_QUALITY = 85
WEBP_QUALITY = 85
#: A re-encoding may outgrow its upload (a PNG squeezed harder than Pillow does) up to this
#: factor; the gateway's response limit is sized for it.
MAX_GROWTH = 3


@dataclass(frozen=True)
class Rendition:
    """Encoded image bytes with what describes them."""

    content_type: str
    data: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Processed:
    full: Rendition
    thumbnail: Rendition


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    thumbnail_pixels: int


def detect(data: bytes) -> str | None:
    """The MIME type the bytes start like, or None."""
    if data.startswith(_GIF89):
        return "image/gif"
    for content_type, signature in _SIGNATURES.items():
        if all(data[offset : offset + len(magic)] == magic for magic, offset in signature):
            return content_type
    return None


def process(data: bytes, limits: ImageLimits, field: str = "content") -> Processed:
    """Checks, cleans and re-encodes an upload; INVALID_ARGUMENT naming ``field`` if it is not
    an accepted image, too large in bytes or in pixels, or damaged."""
    if not data:
        raise InvalidArgument.field(field, "the body must be the image bytes; it is empty")
    if len(data) > limits.max_bytes:
        raise InvalidArgument.field(
            field, f"at most {limits.max_bytes} bytes; this upload has {len(data)}"
        )
    content_type = detect(data)
    if content_type is None:
        raise InvalidArgument.field(field, "must be a JPEG, PNG, GIF or WebP image")
    try:
        with _opened(data, content_type, limits, field) as image:
            frames = _frames(image, content_type)
            full = _encode(frames, image, content_type)
            thumbnail = _encode(
                [_thumbnail(frames[0], limits.thumbnail_pixels)], image, content_type
            )
    except InvalidArgument:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InvalidArgument.field(field, f"too many pixels to decode ({error})") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidArgument.field(field, f"is not a readable {content_type} image") from error
    if len(full.data) > MAX_GROWTH * limits.max_bytes:
        raise InvalidArgument.field(field, "is too large once re-encoded; send a smaller image")
    return Processed(full, thumbnail)


@contextlib.contextmanager
def _opened(
    data: bytes, content_type: str, limits: ImageLimits, field: str
) -> Iterator[Image.Image]:
    """Opens the bytes as ``content_type`` after ``verify()``, refusing decompression bombs
    from the header alone (before any pixel is decoded)."""
    formats = [_PILLOW_FORMATS[content_type]]
    with warnings.catch_warnings():
        # Pillow warns past MAX_IMAGE_PIXELS and raises past twice that; both are refused,
        # and so is anything past our own (lower) limit below.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=formats) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(data), formats=formats)
    with image:
        frames = getattr(image, "n_frames", 1)
        if image.width * image.height * frames > limits.max_pixels:
            raise InvalidArgument.field(
                field,
                f"at most {limits.max_pixels} pixels in all frames; this image has "
                f"{image.width}x{image.height} in {frames} frame(s)",
            )
        yield image


def _frames(image: Image.Image, content_type: str) -> list[Image.Image]:
    """Decoded frames, upright, each with only its duration kept of its metadata."""
    if getattr(image, "n_frames", 1) == 1:
        frames = [ImageOps.exif_transpose(image)]
    else:
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
    clean = []
    for frame in frames:
        duration = frame.info.get("duration")
        encodable = _encodable(frame, content_type)
        encodable.info = {} if duration is None else {"duration": duration}
        clean.append(encodable)
    return clean


def _encodable(frame: Image.Image, content_type: str) -> Image.Image:
    """A mode the target format can write: JPEG has no alpha or palette."""
    if content_type == "image/jpeg" and frame.mode not in ("RGB", "L", "CMYK"):
        return frame.convert("RGB")
    if content_type == "image/webp" and frame.mode not in ("RGB", "RGBA"):
        return frame.convert("RGBA" if "A" in frame.mode or "transparency" in frame.info else "RGB")
    return frame.copy()


def _thumbnail(frame: Image.Image, side: int) -> Image.Image:
    copy = frame.convert("RGBA") if frame.mode == "P" else frame.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


def _encode(frames: list[Image.Image], source: Image.Image, content_type: str) -> Rendition:
    """The frames written afresh: only the options below reach the file, no metadata."""
    first = frames[0]
    options: dict[str, Any] = {}
    icc = source.info.get("icc_profile")
    if icc and content_type != "image/gif":
        options["icc_profile"] = icc
    if content_type == "image/jpeg":
        options.update(quality=JPEG_QUALITY, optimize=True)
    elif content_type == "image/webp":
        options.update(quality=WEBP_QUALITY)
    if len(frames) > 1:
        options.update(
            save_all=True,
            append_images=frames[1:],
            duration=[frame.info.get("duration", 100) for frame in frames],
            loop=source.info.get("loop", 0),
        )
        if content_type == "image/gif":
            # Pillow hands out every frame already composited: each replaces the last.
            options["disposal"] = 2
    buffer = io.BytesIO()
    first.save(buffer, format=_PILLOW_FORMATS[content_type], **options)
    return Rendition(content_type, buffer.getvalue(), first.width, first.height)
