"""A deleted account's uploads leave Cassandra and the object store (``users.deleted`` as the
``media-cleanup`` consumer applies it), against the real stores and ffmpeg."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from cassandra.cluster import Session
from chirp.events.v1 import user_events_pb2

from services.media.adapters.objects import S3ObjectStore, s3_client
from services.media.adapters.store import SHARDS, CassandraMediaStore
from services.media.consumers.cleanup import DeletedMedia
from services.media.model import Media, State
from services.media.service import MediaService
from tests.integration.media.conftest import SETTINGS, NewMedia, Unannounced, fresh_tweet_id
from tests.integration.media.photos import still
from tests.integration.media.videos import made
from tests.integration.tweets.tokens import random_user_id


@pytest.fixture(scope="module")
def media(unannounced: Unannounced, new_media: NewMedia) -> MediaService:
    return new_media(unannounced)


def _deleted(user_id: int) -> user_events_pb2.UserDeletedEvent:
    event = user_events_pb2.UserDeletedEvent(event_id="erase", user_id=user_id)
    event.occur_time.GetCurrentTime()
    return event


async def _objects_of(items: Sequence[Media]) -> list[str]:
    """The keys in the bucket of ``items`` (each object's key ends with its item's id)."""
    ids = {str(item.id) for item in items}
    found: list[str] = []
    async with s3_client(SETTINGS.s3) as client:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=SETTINGS.s3.bucket)
        async for page in pages:
            keys = (listed["Key"] for listed in page.get("Contents", []))
            found.extend(key for key in keys if key.rsplit("/", 1)[-1] in ids)
    return sorted(found)


def _rows_of(session: Session, owner: int, items: Sequence[Media], tweet: int) -> list[str]:
    """Every row of the owner's items in the media tables (the items found by their owner)."""
    rows = [
        f"media_items {row.id}"
        for row in session.execute(
            "SELECT id FROM media_items WHERE owner_id = %s ALLOW FILTERING", (owner,)
        )
    ]
    rows += [
        f"media_by_owner {row.media_id}"
        for row in session.execute(
            "SELECT media_id FROM media_by_owner WHERE owner_id = %s", (owner,)
        )
    ]
    rows += [
        f"media_by_tweet {row.media_id}"
        for row in session.execute(
            "SELECT media_id FROM media_by_tweet WHERE tweet_id = %s", (tweet,)
        )
    ]
    for item in items:
        pending = session.execute(
            "SELECT media_id FROM media_pending WHERE shard = %s AND media_id = %s",
            (item.id % SHARDS, item.id),
        )
        rows += [f"media_pending {row.media_id}" for row in pending]
    return sorted(rows)


async def test_every_upload_of_a_deleted_account_leaves_the_tables_and_the_bucket(
    tmp_path: Path, media: MediaService, session: Session
) -> None:
    owner, other = random_user_id(), random_user_id()
    attached = await media.upload(owner, still("JPEG"), "")
    loose = await media.upload(owner, still("PNG"), "")
    clip = made(tmp_path, size="160x120", seconds=1)
    ready = await media.process_video((await media.upload(owner, clip, "")).id)
    assert ready is not None
    assert ready.state is State.READY  # a rendition and a poster; its upload object removed
    processing = await media.upload(owner, clip, "")  # its upload object, kept until processed
    tweet = fresh_tweet_id()
    await media.attach(tweet, owner, [attached.id])
    kept = await media.upload(other, still("PNG"), "")
    mine = [attached, loose, ready, processing]
    assert len(await _objects_of(mine)) == 7  # two per photo and ready video, one processing
    assert len(_rows_of(session, owner, mine, tweet)) == 4 + 4 + 1 + 3  # three still pending

    cleanup = DeletedMedia(SETTINGS.nats_url, media, grace_seconds=0)
    for _ in range(2):  # a redelivery, or a second event, finds nothing more to do
        assert await cleanup.remove_of_account(_deleted(owner))
        assert _rows_of(session, owner, mine, tweet) == []
        assert await _objects_of(mine) == []
    assert await media.get(kept.id) == kept  # another account's upload is untouched
    assert (await media.content(kept.id, thumbnail=True)).sha256 == kept.thumbnail.sha256


async def test_an_erasure_that_stopped_half_way_is_finished_by_the_next(
    media: MediaService, objects: S3ObjectStore, session: Session
) -> None:
    owner = random_user_id()
    items = [await media.upload(owner, still(fmt), "") for fmt in ("PNG", "GIF")]
    # A first run deleted their objects, then stopped before their rows; and an index row
    # outlived its item (the rows are one batch, but a test can still write one).
    await objects.delete([key for item in items for key in item.keys])
    session.execute(
        "INSERT INTO media_by_owner (owner_id, media_id) VALUES (%s, %s)",
        (owner, fresh_tweet_id()),
    )
    assert await media.remove_of_owner(owner)
    assert _rows_of(session, owner, items, 0) == []


class AttachedFirst(Unannounced):
    """Stages an attach that lands between the erasure's read and its claim of the upload."""

    async def doom(self, media_id: int) -> bool:
        await self.attach(media_id, fresh_tweet_id())
        return await super().doom(media_id)


async def test_an_upload_attached_while_the_erasure_runs_is_left_for_its_next_call(
    media: MediaService, store: CassandraMediaStore, new_media: NewMedia
) -> None:
    """The lightweight transaction that claims an unattached upload loses to the attach: the
    erasure says it is not done (the event is redelivered), and the next call removes it."""
    owner = random_user_id()
    item = await media.upload(owner, still("PNG"), "")
    assert not await new_media(AttachedFirst(store)).remove_of_owner(owner)
    assert (await store.get([item.id]))[item.id].tweet_id > 0
    assert await media.remove_of_owner(owner)
    assert await store.get([item.id]) == {}
