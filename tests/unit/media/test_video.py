"""The rules of ``services.media.video``: what an upload must be, read from ffprobe's report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.media import video
from services.platform.errors import InvalidArgument

LIMITS = video.VideoLimits(
    max_bytes=40 * 1024 * 1024, max_duration_ms=140_000, max_side=4096, rendition_side=1280
)


def report(
    *,
    format_name: str = "mov,mp4,m4a,3gp,3g2,mj2",
    video_codec: str = "h264",
    audio_codec: str | None = "aac",
    size: tuple[int, int] = (1920, 1080),
    duration: str | None = "12.500000",
    rotation: int | None = None,
) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "codec_type": "video",
        "codec_name": video_codec,
        "width": size[0],
        "height": size[1],
    }
    if rotation is not None:
        stream["side_data_list"] = [{"side_data_type": "Display Matrix", "rotation": rotation}]
    streams = [stream]
    if audio_codec is not None:
        streams.append({"codec_type": "audio", "codec_name": audio_codec})
    found: dict[str, Any] = {"streams": streams, "format": {"format_name": format_name}}
    if duration is not None:
        found["format"]["duration"] = duration
    return found


def refusal(found: dict[str, Any], content_type: str = video.MP4) -> str:
    with pytest.raises(InvalidArgument) as raised:
        video.parse_probe(found, content_type, LIMITS)
    (violation,) = raised.value.violations
    assert violation.field == "content"
    return violation.description


def test_containers_are_recognised_by_their_bytes() -> None:
    assert video.detect(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00") == video.MP4
    assert video.detect(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01") == video.WEBM
    assert video.detect(b"\xff\xd8\xff\xe0 a JPEG") is None
    assert video.detect(b"ftyp at the wrong offset") is None
    assert video.detect(b"") is None


def test_an_mp4_with_h264_and_aac_is_accepted() -> None:
    probe = video.parse_probe(report(), video.MP4, LIMITS)
    assert probe == video.Probe(video.MP4, "h264", "aac", 1920, 1080, 12_500)


def test_a_webm_with_vp9_and_opus_and_a_silent_video_are_accepted() -> None:
    webm = report(format_name="matroska,webm", video_codec="vp9", audio_codec="opus")
    assert video.parse_probe(webm, video.WEBM, LIMITS).audio_codec == "opus"
    assert video.parse_probe(report(audio_codec=None), video.MP4, LIMITS).audio_codec is None


def test_a_phone_video_turned_on_its_side_has_its_upright_size() -> None:
    probe = video.parse_probe(report(size=(1920, 1080), rotation=-90), video.MP4, LIMITS)
    assert (probe.width, probe.height) == (1080, 1920)


@pytest.mark.parametrize(
    ("found", "content_type", "said"),
    [
        (report(format_name="matroska,webm"), video.MP4, "not a readable MP4"),
        (report(video_codec="hevc"), video.MP4, "MP4 video must be h264; this one is hevc"),
        (report(video_codec="h264"), video.WEBM, "not a readable WebM"),
        (
            report(format_name="matroska,webm", video_codec="h264"),
            video.WEBM,
            "WebM video must be av1, vp8, vp9",
        ),
        (report(audio_codec="mp3"), video.MP4, "MP4 audio must be aac; this one is mp3"),
        (report(size=(4097, 16)), video.MP4, "at most 4096 pixels on either side"),
        (report(size=(0, 0)), video.MP4, "frame size cannot be read"),
        (report(duration=None), video.MP4, "duration cannot be read"),
        (report(duration="N/A"), video.MP4, "duration cannot be read"),
        (report(duration="140.001"), video.MP4, "at most 140 seconds; this video lasts 140.0"),
    ],
)
def test_what_is_refused_is_named(found: dict[str, Any], content_type: str, said: str) -> None:
    assert said in refusal(found, content_type)


def test_a_file_without_a_video_stream_is_refused() -> None:
    audio_only = {
        "streams": [{"codec_type": "audio", "codec_name": "aac"}],
        "format": {"format_name": "mov,mp4", "duration": "3.0"},
    }
    assert "no video stream" in refusal(audio_only)
    cover_only = {
        "streams": [
            {
                "codec_type": "video",
                "codec_name": "h264",
                "width": 600,
                "height": 600,
                "disposition": {"attached_pic": 1},
            }
        ],
        "format": {"format_name": "mov,mp4", "duration": "3.0"},
    }
    assert "no video stream" in refusal(cover_only)


def test_the_size_limit_is_checked_before_probing() -> None:
    small = video.VideoLimits(max_bytes=10, max_duration_ms=1, max_side=1, rendition_side=1)
    video.check_size(bytes(10), small, "content")
    with pytest.raises(InvalidArgument, match="at most 10 bytes; this upload has 11"):
        video.check_size(bytes(11), small, "content")


def test_the_rendition_drops_metadata_and_stays_web_safe() -> None:
    args = video.rendition_args(Path("in"), Path("out"), LIMITS, threads=2)
    joined = " ".join(args)
    for expected in (
        "-map_metadata -1",
        "-c:v libx264",
        "-pix_fmt yuv420p",
        "-c:a aac",
        "-movflags +faststart",
        "-threads 2",
        "-t 140",
    ):
        assert expected in joined
    assert "min(1280,iw)" in joined  # the longer side at most 1280, never enlarged


def test_the_poster_comes_from_a_second_in_or_the_middle_of_a_short_video() -> None:
    assert "1.000" in video.poster_args(Path("v"), Path("p"), 60_000)
    assert "0.400" in video.poster_args(Path("v"), Path("p"), 800)
