"""Videos through Envoy on 127.0.0.1:8080: an upload accepted for processing (202), the rendition
and its poster served with byte ranges and conditional requests, attaching to tweets, and what
is refused or fails.

Against the real media and tweets services, the transcode consumer (ffmpeg), Cassandra, NATS and
the object store. Every video is made here with ffmpeg, tiny and short; accounts are tokens
minted with the local stack's signing key, a new one per test (uploads are rate limited per
account, videos more so).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import random
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from PIL import Image

from services.platform.settings import Settings
from tests.integration.media.photos import still
from tests.integration.tweets.tokens import bearer, random_user_id

LIMITS = Settings(service="media").media
JsonObject = dict[str, Any]
#: How long a test waits for a video to be processed (seconds on a 2-core machine).
PROCESSING_SECONDS = 60.0
CACHE_CONTROL = "public, max-age=31536000, immutable"
#: What the uploads below carry and the rendition must not: a title, a GPS position, a comment.
SECRETS = {"title": "secret", "location": "+48.8577+002.2950/", "comment": "hidden"}
#: The smallest valid start of an MP4: an ``ftyp`` box.
FTYP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


# Making and reading videos.


def ffmpeg(target: Path, *args: str) -> bytes:
    """Runs ffmpeg with ``args`` writing ``target``; what it wrote."""
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args, str(target)]
    subprocess.run(argv, check=True, timeout=60)
    return target.read_bytes()


def lavfi_video(size: str, seconds: float, rate: int = 25, source: str = "testsrc") -> list[str]:
    """ffmpeg's arguments for one of its test patterns as input."""
    return ["-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}", "-t", f"{seconds:g}"]


def sine(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", "sine=frequency=440", "-t", f"{seconds:g}"]


H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def h264(target: Path, size: str, seconds: float, *extra: str) -> bytes:
    """A silent H.264 MP4 of ffmpeg's test pattern (the index last, as ffmpeg writes it)."""
    return ffmpeg(target, *lavfi_video(size, seconds), *H264, *extra)


def probed(source: Path | bytes, folder: Path) -> JsonObject:
    """ffprobe's report (format and streams) of a file, or of bytes written to ``folder``."""
    if isinstance(source, bytes):
        path = folder / f"probed-{hashlib.sha256(source).hexdigest()[:12]}"
        path.write_bytes(source)
        source = path
    argv = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    report = subprocess.run([*argv, str(source)], check=True, capture_output=True, timeout=60)
    parsed: JsonObject = json.loads(report.stdout)
    return parsed


def stream(report: JsonObject, codec_type: str) -> JsonObject:
    found: list[JsonObject] = [s for s in report["streams"] if s["codec_type"] == codec_type]
    assert len(found) == 1, report["streams"]
    return found[0]


def boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """An MP4's top-level boxes: (type, offset, size)."""
    found = []
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
            header = 16
        elif size == 0:
            size = len(data) - offset
        assert size >= header, f"a box of {size} bytes at {offset}"
        found.append((kind, offset, size))
        offset += size
    return found


def box_order(data: bytes) -> list[bytes]:
    return [kind for kind, _, _ in boxes(data)]


def noise(seed: int, size: int) -> bytes:
    """The same random bytes on every run, so a failure can be reproduced."""
    return random.Random(seed).randbytes(size)  # noqa: S311  (test data, not a secret)


@functools.cache
def encoders() -> str:
    listed = subprocess.run(
        ["ffmpeg", "-hide_banner", "-encoders"], check=True, capture_output=True, timeout=60
    )
    return listed.stdout.decode()


# The API.


def post_media(
    client: httpx.Client, owner: int, data: bytes, content_type: str = "video/mp4"
) -> httpx.Response:
    return client.post(
        "/v1/media", content=data, headers={**bearer(owner), "content-type": content_type}
    )


def accepted(client: httpx.Client, owner: int, data: bytes, content_type: str) -> JsonObject:
    """A video upload, answered 202 Accepted: processing."""
    response = post_media(client, owner, data, content_type)
    assert response.status_code == 202, response.text
    body: JsonObject = response.json()
    assert (body["kind"], body["state"]) == ("KIND_VIDEO", "STATE_PROCESSING"), body
    return body


def settled(client: httpx.Client, media_id: str) -> JsonObject:
    """The media item once it is no longer processing (ready or failed)."""
    deadline = time.monotonic() + PROCESSING_SECONDS
    while True:
        response = client.get(f"/v1/media/{media_id}")
        assert response.status_code == 200, response.text
        body: JsonObject = response.json()
        if body["state"] != "STATE_PROCESSING":
            return body
        assert time.monotonic() < deadline, (
            f"{media_id} still processing after {PROCESSING_SECONDS:g} s"
        )
        time.sleep(0.2)


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["message"]
    return message


def refused_field(response: httpx.Response) -> str:
    """The field a 400 names (google.rpc.BadRequest), and that it is 400."""
    error(response, 400)
    field: str = response.json()["details"][0]["fieldViolations"][0]["field"]
    return field


def path_of(url: str) -> str:
    assert url.startswith("http://localhost:8080/"), url
    return url.removeprefix("http://localhost:8080")


def post_tweet(client: httpx.Client, author: int, media_ids: list[str]) -> httpx.Response:
    return client.post(
        "/v1/tweets", json={"text": "watch", "mediaIds": media_ids}, headers=bearer(author)
    )


def sha256_tag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()}"'


# An MP4 and a WebM, uploaded and processed once for the tests that read what is served.


@dataclass(frozen=True)
class Container:
    name: str
    content_type: str
    #: ffmpeg's arguments for the video and audio codecs, and ffprobe's names of them.
    codecs: tuple[str, ...]
    video_codec: str
    audio_codec: str


MP4 = Container(
    name="mp4",
    content_type="video/mp4",
    codecs=(*H264, "-c:a", "aac"),
    video_codec="h264",
    audio_codec="aac",
)
WEBM = Container(
    name="webm",
    content_type="video/webm",
    codecs=("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"),
    video_codec="vp9",
    audio_codec="opus",
)
#: The uploads' frame size and duration: kept as they are (smaller than the rendition's).
WIDTH, HEIGHT, SECONDS = 320, 180, 2


@dataclass(frozen=True)
class Processed:
    container: Container
    folder: Path
    sent: bytes
    #: The upload's answer, then the item once processing ended, and what its url serves.
    accepted: JsonObject
    ready: JsonObject
    served: httpx.Response


@pytest.fixture(scope="module", params=[MP4, WEBM], ids=lambda c: c.name)
def processed(
    request: pytest.FixtureRequest, client: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> Processed:
    container: Container = request.param
    folder = tmp_path_factory.mktemp(container.name)
    metadata = [arg for key, value in SECRETS.items() for arg in ("-metadata", f"{key}={value}")]
    sent = ffmpeg(
        folder / f"upload.{container.name}",
        *lavfi_video(f"{WIDTH}x{HEIGHT}", SECONDS),
        *sine(SECONDS),
        *container.codecs,
        *metadata,
    )
    body = accepted(client, random_user_id(), sent, container.content_type)
    ready = settled(client, body["id"])
    assert ready["state"] == "STATE_READY", ready
    served = client.get(path_of(ready["url"]))
    assert served.status_code == 200, served.text
    return Processed(container, folder, sent, body, ready, served)


def test_a_video_upload_is_accepted_for_processing(processed: Processed) -> None:
    sent = probed(processed.sent, processed.folder)
    assert stream(sent, "video")["codec_name"] == processed.container.video_codec
    assert stream(sent, "audio")["codec_name"] == processed.container.audio_codec
    body = processed.accepted
    assert body["kind"] == "KIND_VIDEO"
    assert body["state"] == "STATE_PROCESSING"
    assert (body["url"], body["thumbnailUrl"], body["failureReason"]) == ("", "", "")
    # What probing the upload found: its type (by its bytes), frame size and duration.
    assert body["contentType"] == processed.container.content_type
    assert (body["width"], body["height"]) == (WIDTH, HEIGHT)
    assert abs(body["durationMs"] - SECONDS * 1000) <= 100
    assert body["tweetId"] == "0"


def test_a_processed_video_is_an_h264_aac_mp4_that_starts_playing_at_once(
    processed: Processed, client: httpx.Client
) -> None:
    ready, served = processed.ready, processed.served
    media_id = processed.accepted["id"]
    assert (ready["id"], ready["ownerId"]) == (media_id, processed.accepted["ownerId"])
    assert (ready["kind"], ready["contentType"]) == ("KIND_VIDEO", "video/mp4")
    assert ready["failureReason"] == ""
    assert ready["url"] == f"http://localhost:8080/v1/media/{media_id}/content"
    assert ready["thumbnailUrl"] == f"{ready['url']}?thumbnail=true"
    assert (ready["width"], ready["height"]) == (WIDTH, HEIGHT)
    assert abs(ready["durationMs"] - SECONDS * 1000) <= 100
    assert int(ready["sizeBytes"]) == len(served.content)
    assert client.get(f"/v1/media/{media_id}").json() == ready

    report = probed(served.content, processed.folder)
    assert "mp4" in report["format"]["format_name"].split(",")
    video, audio = stream(report, "video"), stream(report, "audio")
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert (video["width"], video["height"]) == (WIDTH, HEIGHT)
    assert (audio["codec_name"], audio["channels"]) == ("aac", 2)
    assert abs(float(report["format"]["duration"]) - SECONDS) <= 0.1
    order = box_order(served.content)
    assert order.index(b"moov") < order.index(b"mdat"), order  # the index first (faststart)


def test_the_uploads_metadata_is_not_served(processed: Processed) -> None:
    sent = probed(processed.sent, processed.folder)["format"]["tags"]
    assert {key.lower(): value for key, value in sent.items()}.items() >= SECRETS.items()
    report = probed(processed.served.content, processed.folder)
    tags = {
        key.lower(): value
        for tags in [report["format"].get("tags", {})]
        + [s.get("tags", {}) for s in report["streams"]]
        for key, value in tags.items()
    }
    assert not tags.keys() & SECRETS.keys(), tags
    # Nor under other names, nor anywhere in the file.
    assert not any(secret in json.dumps(tags) for secret in SECRETS.values()), tags
    assert not any(secret.encode() in processed.served.content for secret in SECRETS.values())


def test_the_video_is_served_with_byte_ranges(processed: Processed, client: httpx.Client) -> None:
    url = path_of(processed.ready["url"])
    served = processed.served
    whole, size = served.content, len(served.content)
    assert size > 2000
    assert served.headers["content-type"] == "video/mp4"
    assert served.headers["accept-ranges"] == "bytes"
    assert served.headers["cache-control"] == CACHE_CONTROL
    assert int(served.headers["content-length"]) == size
    assert "content-range" not in served.headers
    etag = served.headers["etag"]
    assert etag == sha256_tag(whole)

    start = client.get(url, headers={"range": "bytes=0-99"})
    assert start.status_code == 206, start.text
    assert start.headers["content-range"] == f"bytes 0-99/{size}"
    assert start.headers["accept-ranges"] == "bytes"
    assert (start.headers["etag"], start.headers["content-type"]) == (etag, "video/mp4")
    assert int(start.headers["content-length"]) == 100
    assert start.content == whole[:100]

    for asked, first, last in [
        ("bytes=-10", size - 10, size - 1),  # the last 10 bytes
        (f"bytes={size - 50}-", size - 50, size - 1),  # open: to the end
        ("bytes=1000-1999", 1000, 1999),
        (f"bytes=1000-{size + 5000}", 1000, size - 1),  # the end past the last byte: cut
        (f"bytes=-{size + 10}", 0, size - 1),  # a suffix longer than the video: all of it
    ]:
        part = client.get(url, headers={"range": asked})
        assert part.status_code == 206, asked
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}", asked
        assert part.content == whole[first : last + 1], asked

    for asked in [f"bytes={size}-", f"bytes={size + 100}-{size + 200}", "bytes=-0"]:
        past = client.get(url, headers={"range": asked})
        assert past.status_code == 416, asked
        assert past.headers["content-range"] == f"bytes */{size}", asked

    # A range of another copy of the content (If-Range names another ETag): the whole is sent.
    other = client.get(url, headers={"range": "bytes=0-99", "if-range": '"not-this-one"'})
    assert (other.status_code, other.content) == (200, whole)
    same = client.get(url, headers={"range": "bytes=0-99", "if-range": etag})
    assert (same.status_code, same.content) == (206, whole[:100])


def test_revalidating_and_head_send_no_body(processed: Processed, client: httpx.Client) -> None:
    url = path_of(processed.ready["url"])
    etag, size = processed.served.headers["etag"], len(processed.served.content)

    unchanged = client.get(url, headers={"if-none-match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    changed = client.get(url, headers={"if-none-match": '"another"'})
    assert (changed.status_code, changed.content) == (200, processed.served.content)

    head = client.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == size
    assert (head.headers["etag"], head.headers["content-type"]) == (etag, "video/mp4")
    assert head.headers["accept-ranges"] == "bytes"
    head_range = client.head(url, headers={"range": "bytes=0-99"})
    assert head_range.status_code == 206
    assert head_range.content == b""
    assert int(head_range.headers["content-length"]) == 100
    assert head_range.headers["content-range"] == f"bytes 0-99/{size}"


def test_the_poster_is_a_jpeg_of_the_renditions_size(
    processed: Processed, client: httpx.Client
) -> None:
    ready = processed.ready
    poster = client.get(path_of(ready["thumbnailUrl"]))
    assert poster.status_code == 200, poster.text
    assert poster.headers["content-type"] == "image/jpeg"
    assert poster.headers["etag"] == sha256_tag(poster.content)
    assert poster.headers["etag"] != processed.served.headers["etag"]
    assert poster.headers["cache-control"] == CACHE_CONTROL
    image = Image.open(io.BytesIO(poster.content))
    assert image.format == "JPEG"
    assert image.size == (ready["width"], ready["height"])
    assert dict(image.getexif()) == {}
    # A frame of the test pattern, not a blank one.
    low, high = cast("tuple[int, int]", image.convert("L").getextrema())
    assert high - low > 100


# Attaching.


def slow_clip(folder: Path) -> bytes:
    """8 s of a 1080p test pattern: made in a fraction of a second (one second encoded, then
    repeated by copying), but its transcode takes seconds of both cores, so the item stays
    processing far longer than the requests that follow its upload."""
    ffmpeg(folder / "second.mp4", *lavfi_video("1920x1080", 1, source="testsrc2"), *H264)
    repeated = ["-stream_loop", "7", "-i", str(folder / "second.mp4"), "-c", "copy"]
    return ffmpeg(folder / "slow.mp4", *repeated)


def test_a_video_is_attached_alone_and_only_once_ready(
    client: httpx.Client, tmp_path: Path
) -> None:
    author = random_user_id()
    sent = slow_clip(tmp_path)
    video = accepted(client, author, sent, "video/mp4")
    assert (video["width"], video["height"]) == (1920, 1080)
    assert abs(video["durationMs"] - 8000) <= 100

    early = post_tweet(client, author, [video["id"]])
    assert "processing" in error(early, 400)
    photo = post_media(client, author, still("PNG", (60, 40)), "image/png")
    assert photo.status_code == 200, photo.text
    assert (photo.json()["kind"], photo.json()["state"]) == ("KIND_PHOTO", "STATE_READY")
    photo_id = photo.json()["id"]
    assert "one video" in error(post_tweet(client, author, [video["id"], photo_id]), 400)
    # The refusals above came while it was processing, and attached nothing.
    still_processing = client.get(f"/v1/media/{video['id']}").json()
    assert (still_processing["state"], still_processing["tweetId"]) == ("STATE_PROCESSING", "0")

    ready = settled(client, video["id"])
    assert ready["state"] == "STATE_READY", ready
    assert (ready["width"], ready["height"]) == (1280, 720)  # the longer side at most 1280
    assert "one video" in error(post_tweet(client, author, [video["id"], photo_id]), 400)
    assert "one video" in error(post_tweet(client, author, [photo_id, video["id"]]), 400)

    response = post_tweet(client, author, [video["id"]])
    assert response.status_code == 200, response.text
    tweet = response.json()
    # Once on a tweet, not on another; the photo refused with it is still free.
    assert "attached" in error(post_tweet(client, author, [video["id"]]), 400)
    assert post_tweet(client, author, [photo_id]).status_code == 200
    assert client.get(f"/v1/media/{video['id']}").json()["tweetId"] == tweet["id"]

    [attached] = tweet["media"]
    assert attached["id"] == video["id"]
    assert attached["url"] == ready["url"] != ""
    assert attached["thumbnailUrl"] == ready["thumbnailUrl"]
    assert attached["tweetId"] == tweet["id"]
    assert client.get(f"/v1/tweets/{tweet['id']}").json()["media"] == tweet["media"]
    # The tweet says what it carries: a video, ready, and how long it lasts.
    assert (attached["kind"], attached["state"], attached["durationMs"]) == (
        "KIND_VIDEO",
        "STATE_READY",
        ready["durationMs"],
    )


# What is refused.


def truncated(folder: Path) -> bytes:
    """The first third of an MP4 whose index (moov) is at its end: no index at all."""
    whole = ffmpeg(folder / "whole.mp4", *lavfi_video("160x90", 2), *sine(2), *H264, "-c:a", "aac")
    order = box_order(whole)
    assert order.index(b"mdat") < order.index(b"moov"), order
    return whole[: len(whole) // 3]


def ftyp_then_garbage(_: Path) -> bytes:
    return FTYP + noise(1, 4096)


def webm_header_then_garbage(_: Path) -> bytes:
    return b"\x1a\x45\xdf\xa3" + noise(2, 4096)


def hevc(folder: Path) -> bytes:
    codec = "libx265" if " libx265 " in encoders() else "mpeg4"
    quiet = ["-x265-params", "log-level=error"] if codec == "libx265" else []
    video = ["-c:v", codec, *quiet, "-pix_fmt", "yuv420p"]
    made = ffmpeg(folder / "other.mp4", *lavfi_video("64x64", 1), *video)
    assert stream(probed(made, folder), "video")["codec_name"] in {"hevc", "mpeg4"}
    return made


def too_long(folder: Path) -> bytes:
    seconds = LIMITS.max_video_seconds + 1
    return ffmpeg(folder / "long.mp4", *lavfi_video("16x16", seconds, rate=1), *H264)


def too_wide(folder: Path) -> bytes:
    width = LIMITS.max_video_side + 16
    made = ffmpeg(folder / "wide.mp4", *lavfi_video(f"{width}x16", 1, rate=5), *H264)
    assert stream(probed(made, folder), "video")["width"] == width
    return made


def text(_: Path) -> bytes:
    return b"just some text, not a video\n" * 10


@pytest.mark.parametrize(
    ("make", "content_type", "said"),
    [
        (truncated, "video/mp4", "not a readable MP4 file"),
        (ftyp_then_garbage, "video/mp4", "not a readable MP4 file"),
        (webm_header_then_garbage, "video/webm", "not a readable WebM file"),
        (hevc, "video/mp4", "MP4 video must be h264"),
        (too_long, "video/mp4", f"at most {LIMITS.max_video_seconds:g} seconds"),
        (too_wide, "video/mp4", f"at most {LIMITS.max_video_side} pixels"),
        (text, "video/mp4", "a video (MP4 or WebM)"),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_what_is_not_an_acceptable_video_is_400_naming_the_content(
    client: httpx.Client,
    tmp_path: Path,
    make: Callable[[Path], bytes],
    content_type: str,
    said: str,
) -> None:
    owner = random_user_id()
    response = post_media(client, owner, make(tmp_path), content_type)
    assert refused_field(response) == "content"
    assert said in response.json()["message"]


def test_a_video_over_40_mib_is_413_at_the_gateway(client: httpx.Client) -> None:
    owner = random_user_id()
    random_bytes = noise(3, LIMITS.max_video_bytes)
    too_big = FTYP + random_bytes[len(FTYP) - 1 :]
    assert len(too_big) == LIMITS.max_video_bytes + 1
    error(post_media(client, owner, too_big), 413)
    # Exactly at the limit it goes through: the service then finds it is no MP4.
    at_limit = FTYP + random_bytes[len(FTYP) :]
    response = post_media(client, owner, at_limit)
    assert "not a readable MP4 file" in error(response, 400)


# A video that probes fine but cannot be transcoded.


def undecodable(folder: Path) -> bytes:
    """An MP4 with a sound index (first) whose frames are noise: ffprobe reads it, ffmpeg
    decodes nothing of it."""
    data = bytearray(h264(folder / "clip.mp4", "160x90", 1, "-movflags", "+faststart"))
    [(_, offset, size)] = [box for box in boxes(bytes(data)) if box[0] == b"mdat"]
    data[offset + 8 : offset + size] = noise(4, size - 8)
    return bytes(data)


def test_a_video_that_cannot_be_transcoded_ends_failed(
    client: httpx.Client, tmp_path: Path
) -> None:
    author = random_user_id()
    video = accepted(client, author, undecodable(tmp_path), "video/mp4")
    assert video["durationMs"] == 1000

    failed = settled(client, video["id"])
    assert failed["state"] == "STATE_FAILED", failed
    assert failed["failureReason"].strip(), failed
    assert (failed["url"], failed["thumbnailUrl"]) == ("", "")
    assert "failed processing" in error(post_tweet(client, author, [video["id"]]), 400)
    content = f"/v1/media/{video['id']}/content"
    assert "failed" in error(client.get(content), 404)
    error(client.get(f"{content}?thumbnail=true"), 404)
    assert client.head(content).status_code == 404
    assert client.get(f"/v1/media/{video['id']}").json() == failed  # for good: no retry


def test_a_video_needs_a_token_and_unknown_content_is_404(client: httpx.Client) -> None:
    response = client.post("/v1/media", content=FTYP, headers={"content-type": "video/mp4"})
    error(response, 401)
    error(client.get("/v1/media/123/content", headers={"range": "bytes=0-99"}), 404)
    assert "media id" in error(client.get("/v1/media/abc/content"), 400)
