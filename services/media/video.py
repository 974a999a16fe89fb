"""Videos: what an upload must be, and how it is turned into what is served.

Pure rules, like ``images.py``; the programs that apply them (ffprobe, ffmpeg) are run by
``adapters/ffmpeg.py``. An upload is recognised by its bytes (an MP4 ``ftyp`` box or WebM's
EBML header), never by the Content-Type a client sent, then probed: its container, codecs,
duration and frame size are checked from ffprobe's report before a single frame is decoded. What
is served is one web-safe rendition (H.264 High profile in yuv420p, AAC stereo, MP4 with the
index first so a player starts before the download ends), at most ``rendition_side`` pixels on
its longer side, with every piece of metadata of the upload dropped (``-map_metadata -1``:
GPS position, device, creation time), and a JPEG poster frame from the rendition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.platform.errors import InvalidArgument

MP4 = "video/mp4"
WEBM = "video/webm"
#: The codecs each accepted container may carry (ffprobe's names); audio is optional.
VIDEO_CODECS = {MP4: frozenset({"h264"}), WEBM: frozenset({"vp8", "vp9", "av1"})}
AUDIO_CODECS = {MP4: frozenset({"aac"}), WEBM: frozenset({"opus", "vorbis"})}
#: ffprobe's format_name of each container.
_FORMATS = {MP4: "mp4", WEBM: "webm"}
_EBML = b"\x1a\x45\xdf\xa3"
#: Where the poster frame is taken: a second in, or the middle of a shorter video.
POSTER_AT_MS = 1000
#: x264's speed/size trade-off and quality (lower is better); AAC's bitrate.
X264_PRESET = "veryfast"
X264_CRF = 23
AAC_BITRATE = "128k"


@dataclass(frozen=True)
class VideoLimits:
    max_bytes: int
    max_duration_ms: int
    #: Longest side of an upload's frames, in pixels (larger is refused, not scaled).
    max_side: int
    #: Longest side of the rendition served (smaller uploads keep their size).
    rendition_side: int


@dataclass(frozen=True)
class Probe:
    """What ffprobe reports of a video: its container, codecs, upright size and duration."""

    content_type: str
    video_codec: str
    audio_codec: str | None
    width: int
    height: int
    duration_ms: int


@dataclass(frozen=True)
class Transcoded:
    """A processed video: the rendition served, its poster (JPEG), and what they measure."""

    video: bytes
    poster: bytes
    width: int
    height: int
    duration_ms: int


class VideoFailed(Exception):
    """Processing this upload failed for good (ffmpeg refused it, or it took too long or too
    much memory): the item is marked failed, not retried."""


def detect(data: bytes) -> str | None:
    """``video/mp4`` or ``video/webm`` if the bytes start like one, else None."""
    if data[4:8] == b"ftyp":
        return MP4
    if data.startswith(_EBML):
        return WEBM
    return None


def check_size(data: bytes, limits: VideoLimits, field: str) -> None:
    if len(data) > limits.max_bytes:
        raise InvalidArgument.field(
            field, f"a video is at most {limits.max_bytes} bytes; this upload has {len(data)}"
        )


def parse_probe(
    report: dict[str, Any], content_type: str, limits: VideoLimits, field: str = "content"
) -> Probe:
    """Checks ffprobe's JSON report (``-show_format -show_streams``) of an upload that starts
    like ``content_type``: INVALID_ARGUMENT naming ``field`` for another container, other
    codecs, no video, an unknown or too long duration, or too large a frame."""
    kind = "MP4" if content_type == MP4 else "WebM"
    format_names = str(report.get("format", {}).get("format_name", "")).split(",")
    if _FORMATS[content_type] not in format_names:
        raise InvalidArgument.field(field, f"starts like {kind} but is not a readable {kind} file")
    streams = report.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover(s)), None)
    if video is None:
        raise InvalidArgument.field(field, f"this {kind} file has no video stream")
    codec = str(video.get("codec_name", ""))
    if codec not in VIDEO_CODECS[content_type]:
        allowed = ", ".join(sorted(VIDEO_CODECS[content_type]))
        raise InvalidArgument.field(field, f"{kind} video must be {allowed}; this one is {codec}")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    audio_codec = None if audio is None else str(audio.get("codec_name", ""))
    if audio_codec is not None and audio_codec not in AUDIO_CODECS[content_type]:
        allowed = ", ".join(sorted(AUDIO_CODECS[content_type]))
        raise InvalidArgument.field(
            field, f"{kind} audio must be {allowed}; this one is {audio_codec}"
        )
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise InvalidArgument.field(field, "the video's frame size cannot be read")
    if max(width, height) > limits.max_side:
        raise InvalidArgument.field(
            field,
            f"at most {limits.max_side} pixels on either side; this video is {width}x{height}",
        )
    if abs(_rotation(video)) % 180 == 90:
        width, height = height, width
    duration_ms = _duration_ms(report, video)
    if duration_ms is None or duration_ms <= 0:
        raise InvalidArgument.field(field, "the video's duration cannot be read")
    if duration_ms > limits.max_duration_ms:
        raise InvalidArgument.field(
            field,
            f"at most {limits.max_duration_ms / 1000:g} seconds; this video lasts "
            f"{duration_ms / 1000:.1f}",
        )
    return Probe(content_type, codec, audio_codec, width, height, duration_ms)


def _is_cover(stream: dict[str, Any]) -> bool:
    """An MP4's cover art is a one-frame "video" stream marked as an attached picture."""
    return bool(stream.get("disposition", {}).get("attached_pic"))


def _rotation(stream: dict[str, Any]) -> int:
    for side_data in stream.get("side_data_list", []):
        if "rotation" in side_data:
            return int(float(side_data["rotation"]))
    return int(float(stream.get("tags", {}).get("rotate", 0)))


def _duration_ms(report: dict[str, Any], video: dict[str, Any]) -> int | None:
    for value in (report.get("format", {}).get("duration"), video.get("duration")):
        try:
            seconds = float(str(value))
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds):
            return round(seconds * 1000)
    return None


def probe_args(path: Path) -> list[str]:
    return [
        "ffprobe", "-v", "error", "-print_format", "json",
        "-show_format", "-show_streams", str(path),
    ]  # fmt: skip


def rendition_args(source: Path, target: Path, limits: VideoLimits, threads: int) -> list[str]:
    """ffmpeg's arguments for the served rendition (see the module's docstring)."""
    side = limits.rendition_side
    # The longer side at most ``side``, both even (yuv420p needs it), the aspect ratio kept.
    scale = (
        f"scale='if(gte(iw,ih),trunc(min({side},iw)/2)*2,-2)'"
        f":'if(gte(iw,ih),-2,trunc(min({side},ih)/2)*2)',format=yuv420p"
    )
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-threads", str(threads),
        "-i", str(source),
        "-map", "0:v:0", "-map", "0:a:0?",
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-vf", scale,
        "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF),
        "-profile:v", "high", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", AAC_BITRATE, "-ac", "2",
        "-t", f"{limits.max_duration_ms / 1000:g}",
        "-movflags", "+faststart",
        "-f", "mp4", str(target),
    ]  # fmt: skip


def poster_args(rendition: Path, target: Path, duration_ms: int) -> list[str]:
    """ffmpeg's arguments for the poster: one JPEG frame of the rendition."""
    at_ms = min(POSTER_AT_MS, duration_ms // 2)
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-ss", f"{at_ms / 1000:.3f}", "-i", str(rendition),
        "-frames:v", "1", "-map_metadata", "-1", "-q:v", "3",
        "-f", "image2", "-c:v", "mjpeg", str(target),
    ]  # fmt: skip
