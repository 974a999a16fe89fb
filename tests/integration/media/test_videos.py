"""Videos through the media domain over the real stores and the real ffmpeg: probing, the
transcode and its outcome, its limits, and a worker killed in the middle of a job.

Uploads here go through a store that keeps the event to itself (``Unannounced``), so the
stack's own transcoder never races the test for them; each test hands the job over itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from chirp.events.v1 import media_events_pb2

from services.media.adapters.ffmpeg import FfmpegVideoTools, RunLimits
from services.media.adapters.objects import S3ObjectStore
from services.media.model import Kind, Media, State
from services.media.service import MediaService
from services.media.video import MP4, VideoFailed
from services.media.wiring import rules
from services.platform.consumers import connect
from services.platform.errors import FailedPrecondition, InvalidArgument, NotFound
from tests.integration.media.conftest import SETTINGS, NewMedia, Unannounced
from tests.integration.media.videos import made
from tests.integration.streams import killable_consumer, temporary_consumer
from tests.integration.tweets.tokens import random_user_id
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[3]
LIMITS = rules(SETTINGS).videos


@pytest.fixture(scope="module")
def media(unannounced: Unannounced, new_media: NewMedia) -> MediaService:
    return new_media(unannounced)


async def _exists(objects: S3ObjectStore, key: str) -> bool:
    try:
        await objects.get(key)
    except NotFound:
        return False
    return True


async def test_an_upload_is_probed_then_processed_into_a_rendition_and_poster(
    tmp_path: Path, media: MediaService, objects: S3ObjectStore, unannounced: Unannounced
) -> None:
    sent = made(tmp_path, size="640x360", seconds=2, extra=("-metadata", "title=secret"))
    owner = random_user_id()
    uploaded = await media.upload(owner, sent, "a test card")
    assert (uploaded.kind, uploaded.state) == (Kind.VIDEO, State.PROCESSING)
    assert (uploaded.full.width, uploaded.full.height, uploaded.full.size_bytes) == (
        640,
        360,
        len(sent),
    )
    assert 1900 <= uploaded.duration_ms <= 2100
    assert unannounced.uploaded[-1].media_id == uploaded.id
    assert await objects.get(uploaded.source_key) == sent
    with pytest.raises(NotFound, match="still processing"):
        await media.servable(uploaded.id, thumbnail=False)
    with pytest.raises(FailedPrecondition, match="still processing"):
        await media.attach(random_user_id(), owner, [uploaded.id])

    ready = await media.process_video(uploaded.id)
    assert ready is not None
    assert ready.state is State.READY
    assert ready.full.content_type == MP4
    assert ready.thumbnail.content_type == "image/jpeg"
    stored = await media.get(uploaded.id)
    assert stored.state is State.READY
    assert stored.source_key == ""
    assert not await _exists(objects, uploaded.source_key)
    rendition = await objects.get(stored.full.key)
    assert b"secret" not in rendition  # the upload's metadata is gone
    assert await objects.get(stored.thumbnail.key) == await _read(media, stored, thumbnail=True)

    # Processing it again (a redelivered job) changes nothing.
    again = await media.process_video(uploaded.id)
    assert again is not None
    assert again.full == stored.full


async def _read(media: MediaService, stored: Media, *, thumbnail: bool) -> bytes:
    servable = await media.servable(stored.id, thumbnail=thumbnail)
    return b"".join([chunk async for chunk in media.read(servable, 0, servable.size_bytes - 1)])


async def test_bad_uploads_are_refused_before_anything_is_stored(
    tmp_path: Path, media: MediaService, unannounced: Unannounced
) -> None:
    sent = made(tmp_path, size="320x240", seconds=2)
    before = len(unannounced.uploaded)
    truncated = sent[: len(sent) // 3]  # ffmpeg writes the index (moov) last: it is cut off
    with pytest.raises(InvalidArgument, match="not a readable MP4") as refused:
        await media.upload(random_user_id(), truncated, "")
    assert "chirp-video-" not in str(refused.value)  # no server path in what a client reads
    with pytest.raises(InvalidArgument, match="at most 140 seconds"):
        await media.upload(
            random_user_id(), made(tmp_path, size="16x16", seconds=141, rate=1, audio=()), ""
        )
    with pytest.raises(InvalidArgument, match=r"photo \(.*\) or a video"):
        await media.upload(random_user_id(), b"plain text, not a video", "")
    assert len(unannounced.uploaded) == before


async def test_a_transcode_past_its_time_fails_for_good(
    tmp_path: Path, new_media: NewMedia, unannounced: Unannounced, objects: S3ObjectStore
) -> None:
    slow = FfmpegVideoTools(LIMITS, RunLimits(seconds=0.2, memory_bytes=2 * 1024**3, threads=1))
    media = new_media(unannounced, tools=slow)
    owner = random_user_id()
    uploaded = await media.upload(owner, made(tmp_path, size="1280x720", seconds=4), "")
    failed = await media.process_video(uploaded.id)
    assert failed is not None
    assert failed.state is State.FAILED
    assert "took longer than 0.2 s" in failed.failure
    stored = await media.get(uploaded.id)
    assert (stored.state, stored.failure) == (State.FAILED, failed.failure)
    with pytest.raises(FailedPrecondition, match="failed processing"):
        await media.attach(random_user_id(), owner, [uploaded.id])
    with pytest.raises(NotFound, match="failed"):
        await media.servable(uploaded.id, thumbnail=False)
    assert await _exists(objects, uploaded.source_key)  # removed with the row, by the sweep


async def test_ffmpeg_out_of_memory_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    starved = FfmpegVideoTools(LIMITS, RunLimits(seconds=30, memory_bytes=48 * 1024**2, threads=1))
    with pytest.raises(VideoFailed, match="ffmpeg"):
        await starved.transcode(made(tmp_path, size="640x360", seconds=1))


# --- a worker killed mid-job ---------------------------------------------------------------


def _children_named(parent: int, name: str) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and command == name:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_worker(consumer: str, subject: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT}/gen"}
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.media.transcode_worker", consumer, subject],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
async def job_subject() -> AsyncIterator[tuple[str, str]]:
    subject = f"media.test_transcode_{uuid.uuid4().hex[:10]}"
    config = killable_consumer(f"test-transcode-{uuid.uuid4().hex[:10]}", [subject])
    async with temporary_consumer(config) as name:
        yield name, subject


async def test_a_worker_killed_mid_transcode_leaves_no_ffmpeg_and_the_job_finishes(
    tmp_path: Path,
    media: MediaService,
    objects: S3ObjectStore,
    job_subject: tuple[str, str],
    processes: list[subprocess.Popen[bytes]],
) -> None:
    consumer, subject = job_subject
    uploaded = await media.upload(
        random_user_id(), made(tmp_path, size="1280x720", seconds=10, rate=30), ""
    )
    worker = _start_worker(consumer, subject, tmp_path / "worker.log")
    processes.append(worker)
    connection = await connect(SETTINGS.nats_url)
    try:
        event = media_events_pb2.VideoUploadedEvent(
            event_id=str(uuid.uuid4()), media_id=uploaded.id, owner_id=uploaded.owner_id
        )
        await connection.jetstream().publish(subject, event.SerializeToString())
    finally:
        await connection.close()

    deadline = time.monotonic() + 60
    while not (transcoding := _children_named(worker.pid, "ffmpeg")):
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "the worker never started ffmpeg"
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # well into the transcode
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    async def ffmpeg_alive() -> list[int]:
        return [pid for pid in transcoding if _alive(pid)]

    await eventually(ffmpeg_alive, lambda alive: not alive, 10)  # died with its worker
    assert (await media.get(uploaded.id)).state is State.PROCESSING

    processes.append(_start_worker(consumer, subject, tmp_path / "worker.log"))

    async def current() -> Media:
        return await media.get(uploaded.id)

    # Ready, and the upload's object forgotten: the last step of a job.
    ready = await eventually(
        current, lambda now: now.state is State.READY and not now.source_key, 90
    )
    assert await _exists(objects, ready.full.key)
    assert await _exists(objects, ready.thumbnail.key)
    assert not await _exists(objects, uploaded.source_key)
