"""The media domain against the real Cassandra and SeaweedFS (S3): uploads, attaching, cleanup."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

import pytest

from services.media.adapters.objects import S3ObjectStore, s3_client
from services.media.adapters.store import CassandraMediaStore
from services.media.consumers.cleanup import UnattachedSweep
from services.media.model import DOOMED, Media
from services.media.service import MediaService
from services.platform.background import in_background
from services.platform.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from services.platform.ids import compose, timestamp_ms, wall_clock_ms
from tests.cancellation import stops_every_time
from tests.integration.media.conftest import SETTINGS, NewMedia, fresh_tweet_id
from tests.integration.media.photos import GPS_IFD, jpeg_with_gps, opened, still
from tests.integration.tweets.tokens import random_user_id


async def _upload(media: MediaService, owner: int, fmt: str = "PNG") -> Media:
    return await media.upload(owner, still(fmt), "")


async def _gone(objects: S3ObjectStore, item: Media) -> bool:
    for key in (item.full.key, item.thumbnail.key):
        try:
            await objects.get(key)
        except NotFound:
            continue
        return False
    return True


async def test_an_upload_stores_clean_bytes_and_its_row(
    media: MediaService, objects: S3ObjectStore, store: CassandraMediaStore
) -> None:
    owner = random_user_id()
    item = await media.upload(owner, jpeg_with_gps((800, 600)), "a blue field")
    assert (item.full.content_type, item.full.width, item.full.height) == ("image/jpeg", 800, 600)
    assert (item.thumbnail.width, item.thumbnail.height) == (400, 300)
    assert (await store.get([item.id]))[item.id] == item

    stored = await objects.get(item.full.key)
    assert hashlib.sha256(stored).hexdigest() == item.full.sha256
    assert item.full.sha256 in item.full.key
    assert not opened(stored).getexif().get_ifd(GPS_IFD)
    content = await media.content(item.id, thumbnail=False)
    assert (content.data, content.content_type, content.sha256) == (
        stored,
        "image/jpeg",
        item.full.sha256,
    )
    thumbnail = await media.content(item.id, thumbnail=True)
    assert opened(thumbnail.data).size == (400, 300)
    assert (await media.get(item.id)).alt_text == "a blue field"


async def test_identical_uploads_are_separate_objects(media: MediaService) -> None:
    owner = random_user_id()
    first, second = await _upload(media, owner), await _upload(media, owner)
    assert first.full.sha256 == second.full.sha256
    assert first.full.key != second.full.key


async def test_bad_uploads_are_invalid_argument(media: MediaService) -> None:
    with pytest.raises(InvalidArgument, match=r"photo \(JPEG, PNG, GIF or WebP\) or a video"):
        await media.upload(random_user_id(), b"GIF-ish but not", "")
    with pytest.raises(InvalidArgument, match="alt_text"):
        await media.upload(random_user_id(), still("PNG"), "x" * 1001)
    with pytest.raises(InvalidArgument, match="bytes"):
        await media.upload(
            random_user_id(), b"\xff\xd8\xff" + b"\0" * SETTINGS.media.max_upload_bytes, ""
        )


async def test_unknown_media_is_not_found(media: MediaService) -> None:
    with pytest.raises(NotFound):
        await media.get(fresh_tweet_id())
    with pytest.raises(NotFound):
        await media.content(fresh_tweet_id(), thumbnail=False)


async def test_attach_checks_owner_existence_and_other_tweets(
    media: MediaService, store: CassandraMediaStore
) -> None:
    owner, other = random_user_id(), random_user_id()
    mine, theirs = await _upload(media, owner), await _upload(media, other)
    tweet = fresh_tweet_id()

    with pytest.raises(PermissionDenied):
        await media.attach(tweet, owner, [mine.id, theirs.id])
    unknown = fresh_tweet_id()
    with pytest.raises(NotFound, match=str(unknown)):
        await media.attach(tweet, owner, [mine.id, unknown])
    assert (await media.get(mine.id)).tweet_id == 0

    attached = await media.attach(tweet, owner, [mine.id])
    assert [m.tweet_id for m in attached] == [tweet]
    assert await media.attach(tweet, owner, [mine.id]) == attached  # a retry is fine
    assert (await media.get(mine.id)).tweet_id == tweet
    assert mine.id not in await store.pending(compose(wall_clock_ms() + 1000, 0, 0), 10_000)
    assert await store.of_tweet(tweet) == [mine.id]

    with pytest.raises(FailedPrecondition):
        await media.attach(fresh_tweet_id(), owner, [mine.id])


@pytest.mark.parametrize(
    ("media_ids", "field"),
    [([], "media_ids"), ([1, 2, 3, 4, 5], "media_ids"), ([7, 7], "media_ids"), ([-1], "media_ids")],
)
async def test_attach_refuses_bad_requests(
    media: MediaService, media_ids: list[int], field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await media.attach(fresh_tweet_id(), random_user_id(), media_ids)
    assert raised.value.violations[0].field == field


class _RacingStore(CassandraMediaStore):
    """The real store, with another tweet attaching ``stolen`` right after the domain read it."""

    def __init__(self, store: CassandraMediaStore, stolen: int, thief: int) -> None:
        self.__dict__.update(store.__dict__)
        self._stolen = stolen
        self._thief = thief

    async def get(self, ids: Sequence[int]) -> dict[int, Media]:
        found = await super().get(ids)
        await super().attach(self._stolen, self._thief)
        return found


async def test_a_lost_race_attaches_nothing(
    store: CassandraMediaStore, new_media: NewMedia, media: MediaService
) -> None:
    owner = random_user_id()
    first, second = await _upload(media, owner), await _upload(media, owner)
    thief, tweet = fresh_tweet_id(), fresh_tweet_id()
    racing = new_media(_RacingStore(store, second.id, thief))
    with pytest.raises(FailedPrecondition):
        await racing.attach(tweet, owner, [first.id, second.id])
    assert (await media.get(first.id)).tweet_id == 0  # rolled back
    assert (await media.get(second.id)).tweet_id == thief
    assert await store.of_tweet(tweet) == []


async def test_the_sweep_removes_only_old_unattached_uploads(
    store: CassandraMediaStore, objects: S3ObjectStore, new_media: NewMedia, media: MediaService
) -> None:
    """The sweep runs with a clock moved on, so the uploads below are past the maximum age
    (so is anything else left unattached in the local stack before them)."""
    owner = random_user_id()
    kept = await _upload(media, owner)
    await media.attach(fresh_tweet_id(), owner, [kept.id])
    doomed = await _upload(media, owner)
    max_age = SETTINGS.media.unattached_ttl_seconds
    later = new_media(store, clock_ms=lambda: timestamp_ms(doomed.id) + 1 + int(max_age * 1000))
    fresh = await _upload(media, owner)  # newer than the cutoff

    assert await later.sweep(max_age) >= 1
    assert doomed.id not in await store.get([doomed.id])
    assert await _gone(objects, doomed)
    with pytest.raises(NotFound):
        await media.attach(fresh_tweet_id(), owner, [doomed.id])
    assert (await media.get(kept.id)).tweet_id > 0
    assert not await _gone(objects, kept)
    assert (await media.get(fresh.id)).tweet_id == 0
    assert await later.sweep(max_age) == 0


async def test_a_doomed_upload_cannot_be_attached(
    store: CassandraMediaStore, media: MediaService
) -> None:
    owner = random_user_id()
    item = await _upload(media, owner)
    assert await store.doom(item.id)
    assert not await store.doom(item.id)
    assert (await store.get([item.id]))[item.id].tweet_id == DOOMED
    with pytest.raises(NotFound):
        await media.attach(fresh_tweet_id(), owner, [item.id])
    assert await store.attach(item.id, fresh_tweet_id()) is None


async def test_the_media_of_a_deleted_tweet_are_removed_once(
    store: CassandraMediaStore, objects: S3ObjectStore, media: MediaService
) -> None:
    owner = random_user_id()
    first, second = await _upload(media, owner, "JPEG"), await _upload(media, owner, "GIF")
    tweet = fresh_tweet_id()
    await media.attach(tweet, owner, [first.id, second.id])
    assert await media.remove_of_tweet(tweet) == 2
    assert await store.get([first.id, second.id]) == {}
    assert await _gone(objects, first)
    assert await _gone(objects, second)
    assert await store.of_tweet(tweet) == []
    assert await media.remove_of_tweet(tweet) == 0


async def test_objects_adapter_edges(objects: S3ObjectStore) -> None:
    await objects.ensure_bucket()  # again: nothing changes
    with pytest.raises(NotFound):
        await objects.get(f"images/none/{fresh_tweet_id()}")
    await objects.delete([f"images/none/{fresh_tweet_id()}"])  # absent is fine
    await objects.delete([])


async def test_an_unreachable_object_store_is_unavailable_not_an_internal_error() -> None:
    nowhere = SETTINGS.model_copy(
        update={"s3": SETTINGS.s3.model_copy(update={"endpoint": "http://127.0.0.1:1"})}
    )
    async with s3_client(nowhere.s3) as client:
        objects = S3ObjectStore(client, nowhere.s3.bucket)
        key = f"images/none/{fresh_tweet_id()}"
        with pytest.raises(Unavailable):
            await objects.put(key, b"bytes", "image/jpeg")
        with pytest.raises(Unavailable):
            await objects.get(key)
        with pytest.raises(Unavailable):
            async for _ in objects.read(key, 0, 10):
                pass
        with pytest.raises(Unavailable):
            await objects.delete([key])


async def test_the_periodic_sweep_runs_on_its_own(
    store: CassandraMediaStore, media: MediaService
) -> None:
    """The job as the service runs it, with a maximum age and period of a fraction of a second."""
    item = await _upload(media, random_user_id())
    sweep = UnattachedSweep(media, max_age_seconds=0.2, every_seconds=0.1)
    async with in_background(sweep.run):
        deadline = asyncio.get_running_loop().time() + 10
        while await store.get([item.id]):
            assert asyncio.get_running_loop().time() < deadline, "the sweep never removed it"
            await asyncio.sleep(0.1)


async def test_the_sweep_stops_when_cancelled_as_it_wakes(media: MediaService) -> None:
    sweep = UnattachedSweep(media, max_age_seconds=3600, every_seconds=0)
    await stops_every_time(sweep.run, lambda: asyncio.sleep(0.01), rounds=20)
