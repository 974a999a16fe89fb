"""The media domain over the real stores: Cassandra, the local SeaweedFS (S3) and ffmpeg."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cassandra.cluster import Session

from services.media.adapters.objects import S3ObjectStore, s3_client
from services.media.adapters.store import CassandraMediaStore
from services.media.model import Media, VideoUploaded
from services.media.ports import MediaStore, VideoTools
from services.media.service import MediaService, UploadLimiters
from services.media.wiring import rules, video_tools
from services.platform.ids import Snowflake, compose, leased_snowflake, wall_clock_ms
from services.platform.outbox import Outbox
from services.platform.redis_clients import resp_client
from services.platform.settings import Settings
from tests.limiting import CountingLimiter

SETTINGS = Settings(service="media")


def fresh_tweet_id() -> int:
    """A fresh tweet id (worker 1023, random sequence: no clash with live services)."""
    return compose(wall_clock_ms(), 1023, random.randrange(4096))  # noqa: S311


@pytest.fixture(scope="module")
def store(session: Session) -> CassandraMediaStore:
    return CassandraMediaStore(session, Outbox(session))


class Unannounced(CassandraMediaStore):
    """Writes uploads without their ``media.video_uploaded`` event (kept in ``uploaded``), so
    no media service processes a test's videos."""

    def __init__(self, store: CassandraMediaStore) -> None:
        self.__dict__.update(store.__dict__)
        self.uploaded: list[VideoUploaded] = []

    async def add(self, media: Media, uploaded: VideoUploaded | None = None) -> None:
        if uploaded is not None:
            self.uploaded.append(uploaded)
        await super().add(media)


@pytest.fixture(scope="module")
def unannounced(store: CassandraMediaStore) -> Unannounced:
    return Unannounced(store)


@pytest.fixture(scope="module")
async def objects() -> AsyncIterator[S3ObjectStore]:
    async with s3_client(SETTINGS.s3) as client:
        objects = S3ObjectStore(client, SETTINGS.s3.bucket)
        await objects.ensure_bucket()
        yield objects


@pytest.fixture(scope="module")
async def ids() -> AsyncIterator[Snowflake]:
    resp = resp_client(SETTINGS.redis_url)
    try:
        async with leased_snowflake(resp) as generator:
            yield generator
    finally:
        await resp.aclose()


NewMedia = Callable[..., MediaService]


@pytest.fixture(scope="module")
def new_media(objects: S3ObjectStore, ids: Snowflake) -> NewMedia:
    """The domain over the real stores and ffmpeg, on ``store`` (a real one, or one that
    stages a race), with the settings' rules (``tools``: ffmpeg under other limits) and no rate
    limits."""

    def build(store: MediaStore, tools: VideoTools | None = None, **options: Any) -> MediaService:
        limiters = UploadLimiters(CountingLimiter(), CountingLimiter())
        videos = tools or video_tools(SETTINGS)
        return MediaService(store, objects, videos, ids, rules(SETTINGS), limiters, **options)

    return build


@pytest.fixture(scope="module")
def media(store: CassandraMediaStore, new_media: NewMedia) -> MediaService:
    return new_media(store)
