"""The media domain over the real stores: Cassandra (migration 0008) and the local MinIO."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cassandra.cluster import Session

from services.media.adapters.objects import S3ObjectStore, s3_client
from services.media.adapters.store import CassandraMediaStore
from services.media.service import MediaService
from services.media.wiring import limits
from services.platform.ids import Snowflake, leased_snowflake
from services.platform.resp import Resp
from services.platform.settings import Settings
from tests.limiting import CountingLimiter

SETTINGS = Settings(service="media")


@pytest.fixture(scope="module")
def store(session: Session) -> CassandraMediaStore:
    return CassandraMediaStore(session)


@pytest.fixture(scope="module")
async def objects() -> AsyncIterator[S3ObjectStore]:
    async with s3_client(SETTINGS) as client:
        objects = S3ObjectStore(client, SETTINGS.s3.bucket)
        await objects.ensure_bucket()
        yield objects


@pytest.fixture(scope="module")
async def ids() -> AsyncIterator[Snowflake]:
    resp = Resp.from_url(SETTINGS.redis_url)
    try:
        async with leased_snowflake(resp) as generator:
            yield generator
    finally:
        await resp.aclose()


@pytest.fixture(scope="module")
def media(store: CassandraMediaStore, objects: S3ObjectStore, ids: Snowflake) -> MediaService:
    return MediaService(store, objects, ids, limits(SETTINGS), CountingLimiter())
