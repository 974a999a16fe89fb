"""Type detection, limits, metadata stripping and thumbnails of ``services.media.images``."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image

from services.media import images
from services.platform.errors import InvalidArgument
from tests.integration.media.photos import GPS_IFD, animated, jpeg_with_gps, opened, still

LIMITS = images.ImageLimits(max_bytes=5 * 1024 * 1024, max_pixels=40_000_000, thumbnail_pixels=400)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_each_format_is_recognised_by_its_bytes(fmt: str, content_type: str) -> None:
    data = still(fmt, (120, 80))
    assert images.detect(data) == content_type
    processed = images.process(data, LIMITS)
    assert processed.full.content_type == content_type
    assert (processed.full.width, processed.full.height) == (120, 80)
    assert opened(processed.full.data).format == fmt


def test_exif_gps_is_stripped_and_orientation_applied() -> None:
    data = jpeg_with_gps((640, 480), rotated=True)
    assert opened(data).getexif().get_ifd(GPS_IFD)
    processed = images.process(data, LIMITS)
    served = opened(processed.full.data)
    assert not served.getexif().get_ifd(GPS_IFD)
    assert dict(served.getexif()) == {}
    # Stored landscape with "rotate 90°": shown (and now stored) as portrait.
    assert (processed.full.width, processed.full.height) == (480, 640)
    assert served.size == (480, 640)


def test_png_text_chunks_are_dropped() -> None:
    from PIL.PngImagePlugin import PngInfo  # noqa: PLC0415

    info = PngInfo()
    info.add_text("Comment", "taken at home, 52.52N 13.40E")
    buffer = io.BytesIO()
    Image.new("RGB", (50, 50)).save(buffer, "PNG", pnginfo=info)
    cleaned = opened(images.process(buffer.getvalue(), LIMITS).full.data)
    assert "Comment" not in cleaned.info


def test_thumbnails_are_at_most_400_pixels_on_the_longer_side() -> None:
    processed = images.process(still("PNG", (1600, 900)), LIMITS)
    assert (processed.thumbnail.width, processed.thumbnail.height) == (400, 225)
    assert opened(processed.thumbnail.data).size == (400, 225)
    small = images.process(still("PNG", (100, 60)), LIMITS)
    assert (small.thumbnail.width, small.thumbnail.height) == (100, 60)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animations_stay_animated_with_a_still_thumbnail(fmt: str) -> None:
    processed = images.process(animated(fmt, frames=4), LIMITS)
    full = opened(processed.full.data)
    assert getattr(full, "n_frames", 1) == 4
    assert getattr(opened(processed.thumbnail.data), "n_frames", 1) == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, I am text",
        b"%PDF-1.7\n",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # a PNG signature and nothing valid after it
        jpeg_with_gps()[:300],  # a truncated JPEG
    ],
)
def test_what_is_not_an_image_is_invalid_argument(data: bytes) -> None:
    with pytest.raises(InvalidArgument) as raised:
        images.process(data, LIMITS)
    assert raised.value.violations[0].field == "content"


def test_too_many_bytes_is_invalid_argument() -> None:
    limits = images.ImageLimits(max_bytes=1000, max_pixels=40_000_000, thumbnail_pixels=400)
    with pytest.raises(InvalidArgument, match="at most 1000 bytes"):
        images.process(jpeg_with_gps(), limits)


def test_decompression_bombs_are_refused_before_decoding() -> None:
    """An 8000x8000 PNG of one colour: small compressed, 64 MP (over the 40 MP limit) decoded."""
    width = height = 8_000
    raw = zlib.compress((b"\x00" * (width + 1)) * height, 1)
    header = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(
            b"IHDR", width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x00\x00\x00\x00"
        )
        + _chunk(b"IDAT", raw)
        + _chunk(b"IEND", b"")
    )
    assert len(header) < LIMITS.max_bytes
    with pytest.raises(InvalidArgument, match="pixels"):
        images.process(header, LIMITS)
    tight = images.ImageLimits(max_bytes=LIMITS.max_bytes, max_pixels=1000, thumbnail_pixels=400)
    with pytest.raises(InvalidArgument, match="at most 1000 pixels"):
        images.process(still("PNG", (100, 100)), tight)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload).to_bytes(4, "big")
    return len(payload).to_bytes(4, "big") + kind + payload + crc
