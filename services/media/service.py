"""The media domain: uploads, video processing, lookups, attaching to tweets, and removing what
is not needed.

Writes span two stores that share no transaction (the object store and Cassandra), so each
operation orders its steps so that an interruption leaves, at worst, an unreferenced object,
never a row whose bytes are missing:

* **upload**: the objects first, then the row (with its *pending* mark, which the sweep reads;
  a video's row and the event that asks for its processing in one atomic write).
* **processing** (a video): the rendition and poster objects first, then the row's state (a
  lightweight transaction: only if it is still processing), then the upload's object goes.
* **attach**: the tweet's index row first, then a lightweight transaction that sets the row's
  tweet only if it has none; a partly attached set is detached again.
* **remove**: an unattached upload is first *doomed* by a lightweight transaction (so no attach
  can win against the sweep, nor a transcode finishing meanwhile keep its objects), then its
  objects go, then its rows (the owner's index row last of all, in the row's batch: an erasure
  that stops finds what is left). Everything is idempotent: a retry (the sweep's next round, a
  redelivered event) finishes what was started.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

import structlog

from services.media import images, video
from services.media.model import DOOMED, NOTHING, Kind, Media, State, Stored, VideoUploaded
from services.media.ports import MediaStore, ObjectStore, VideoTools
from services.platform.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.platform.ids import CHIRP_EPOCH_MS, IdGenerator, compose
from services.platform.outbox import new_event_id
from services.platform.ratelimit import RateLimiter

log = structlog.get_logger()

MAX_ALT_TEXT = 1000
MAX_ATTACH = 4
MAX_BATCH = 100
#: Pending uploads the sweep handles per round, and a deleted account's uploads per read.
SWEEP_BATCH = 100
ERASE_BATCH = 100


@dataclass(frozen=True)
class Content:
    data: bytes
    content_type: str
    sha256: str


def object_key(kind: str, sha256: str, media_id: int) -> str:
    """Keys carry the content hash (so a key names its bytes, which never change) and the media
    id (so each upload owns its objects and removing one never touches another's; see README)."""
    return f"{kind}/{sha256[:2]}/{sha256}/{media_id}"


def _stored(  # noqa: PLR0913  (the bytes, and what describes them)
    kind: str, media_id: int, data: bytes, content_type: str, *, width: int, height: int
) -> Stored:
    sha256 = hashlib.sha256(data).hexdigest()
    return Stored(
        key=object_key(kind, sha256, media_id),
        content_type=content_type,
        size_bytes=len(data),
        sha256=sha256,
        width=width,
        height=height,
    )


def _image(kind: str, media_id: int, rendition: images.Rendition) -> Stored:
    return _stored(
        kind,
        media_id,
        rendition.data,
        rendition.content_type,
        width=rendition.width,
        height=rendition.height,
    )


@dataclass(frozen=True)
class UploadRules:
    images: images.ImageLimits
    videos: video.VideoLimits


@dataclass(frozen=True)
class UploadLimiters:
    """Per-account upload limits: every upload, and videos on their own."""

    uploads: RateLimiter
    videos: RateLimiter


class MediaService:
    def __init__(  # noqa: PLR0913, PLR0917  (one port per store, tool and limit)
        self,
        store: MediaStore,
        objects: ObjectStore,
        videos: VideoTools,
        ids: IdGenerator,
        rules: UploadRules,
        limiters: UploadLimiters,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._store = store
        self._objects = objects
        self._videos = videos
        self._ids = ids
        self._rules = rules
        self._limiters = limiters
        self._clock_ms = clock_ms

    async def upload(self, owner_id: int, data: bytes, alt_text: str) -> Media:
        """A photo, ready at once, or a video, processing until ``process_video`` is done."""
        await self._limiters.uploads.hit(str(owner_id))
        if len(alt_text) > MAX_ALT_TEXT:
            raise InvalidArgument.field("alt_text", f"at most {MAX_ALT_TEXT} characters")
        content_type = video.detect(data)
        if content_type is not None:
            return await self._upload_video(owner_id, data, content_type, alt_text)
        if data and images.detect(data) is None:
            raise InvalidArgument.field(
                "content", "must be a photo (JPEG, PNG, GIF or WebP) or a video (MP4 or WebM)"
            )
        # Decoding is CPU-bound: off the event loop, so other requests go on meanwhile.
        processed = await asyncio.to_thread(images.process, data, self._rules.images)
        media_id = await self._ids.issue()
        media = Media(
            id=media_id,
            owner_id=owner_id,
            full=_image("images", media_id, processed.full),
            thumbnail=_image("thumbnails", media_id, processed.thumbnail),
            alt_text=alt_text,
        )
        await asyncio.gather(
            self._objects.put(media.full.key, processed.full.data, media.full.content_type),
            self._objects.put(
                media.thumbnail.key, processed.thumbnail.data, media.thumbnail.content_type
            ),
        )
        await self._store.add(media)
        return media

    async def _upload_video(
        self, owner_id: int, data: bytes, content_type: str, alt_text: str
    ) -> Media:
        video.check_size(data, self._rules.videos, "content")
        await self._limiters.videos.hit(str(owner_id))
        probe = await self._videos.probe(data, content_type)
        media_id = await self._ids.issue()
        upload = _stored(
            "uploads", media_id, data, content_type, width=probe.width, height=probe.height
        )
        media = Media(
            id=media_id,
            owner_id=owner_id,
            full=replace(upload, key=""),
            thumbnail=NOTHING,
            alt_text=alt_text,
            kind=Kind.VIDEO,
            state=State.PROCESSING,
            duration_ms=probe.duration_ms,
            source_key=upload.key,
        )
        await self._objects.put(upload.key, data, content_type)
        await self._store.add(media, VideoUploaded(new_event_id(), media_id, owner_id))
        return media

    async def process_video(self, media_id: int) -> Media | None:
        """Transcodes a processing video and stores the outcome: ready, or failed for good.
        Idempotent: a video already processed (by this call before a crash, or by another
        worker) only has its upload object removed if that was left. Store outages raise, so
        the job is retried; None if the item is gone."""
        media = (await self._store.get([media_id])).get(media_id)
        if media is None or not media.live or media.kind is not Kind.VIDEO:
            return None
        if media.state is not State.PROCESSING:
            await self._drop_source(media)
            return media
        try:
            source = await self._objects.get(media.source_key)
        except NotFound:
            return None  # removed meanwhile (its row goes next)
        try:
            done = await self._videos.transcode(source)
        except video.VideoFailed as error:
            failed = replace(media, state=State.FAILED, failure=str(error))
            if await self._store.processed(failed):
                log.warning("video processing failed", media_id=media_id, reason=str(error))
            return failed
        size = {"width": done.width, "height": done.height}
        rendition = _stored("videos", media_id, done.video, video.MP4, **size)
        poster = _stored("posters", media_id, done.poster, "image/jpeg", **size)
        await asyncio.gather(
            self._objects.put(rendition.key, done.video, rendition.content_type),
            self._objects.put(poster.key, done.poster, poster.content_type),
        )
        ready = replace(
            media,
            state=State.READY,
            full=rendition,
            thumbnail=poster,
            duration_ms=done.duration_ms,
        )
        if not await self._store.processed(ready):
            # Processed by another worker meanwhile, or claimed for removal: not ours to keep.
            await self._objects.delete([rendition.key, poster.key])
            return None
        await self._drop_source(ready)
        log.info("video ready", media_id=media_id, duration_ms=done.duration_ms)
        return ready

    async def _drop_source(self, media: Media) -> None:
        if media.state is State.READY and media.source_key:
            await self._objects.delete([media.source_key])
            await self._store.source_removed(media.id)

    async def get(self, media_id: int) -> Media:
        media = (await self._store.get([media_id])).get(media_id)
        if media is None or not media.live:
            raise NotFound(f"media {media_id} not found")
        return media

    async def batch_get(self, ids: Sequence[int]) -> list[Media]:
        if len(ids) > MAX_BATCH:
            raise InvalidArgument.field("ids", f"at most {MAX_BATCH} ids")
        found = await self._store.get(list(dict.fromkeys(ids)))
        return [found[i] for i in dict.fromkeys(ids) if i in found and found[i].live]

    async def servable(self, media_id: int, *, thumbnail: bool) -> Stored:
        """What a media item's URL (or thumbnail URL) serves; NOT_FOUND until it is ready."""
        media = await self.get(media_id)
        if media.state is not State.READY:
            raise NotFound(
                f"media {media_id} has nothing to serve: it is "
                f"{'still processing' if media.state is State.PROCESSING else 'failed'}"
            )
        return media.thumbnail if thumbnail else media.full

    async def content(self, media_id: int, *, thumbnail: bool) -> Content:
        stored = await self.servable(media_id, thumbnail=thumbnail)
        return Content(await self._objects.get(stored.key), stored.content_type, stored.sha256)

    def read(self, stored: Stored, first: int, last: int) -> AsyncIterator[bytes]:
        """Bytes ``first`` to ``last`` (inclusive) of what ``servable`` returned."""
        return self._objects.read(stored.key, first, last)

    async def attach(self, tweet_id: int, owner_id: int, media_ids: Sequence[int]) -> list[Media]:
        """Attaches every item or none; attaching the same items to the same tweet again
        succeeds."""
        _check_attach(tweet_id, owner_id, media_ids)
        found = await self._store.get(media_ids)
        missing = [i for i in media_ids if i not in found or not found[i].live]
        if missing:
            raise NotFound(f"media {', '.join(map(str, missing))} not found")
        foreign = [i for i in media_ids if found[i].owner_id != owner_id]
        if foreign:
            raise PermissionDenied(
                f"media {', '.join(map(str, foreign))} belong to another user: "
                "a tweet can carry only its author's uploads"
            )
        _refuse_unfit([found[i] for i in media_ids])
        _refuse_taken([found[i] for i in media_ids], tweet_id)

        await asyncio.gather(*(self._store.index(i, tweet_id) for i in media_ids))
        holders = await asyncio.gather(*(self._store.attach(i, tweet_id) for i in media_ids))
        if any(holder != tweet_id for holder in holders):
            won = [i for i, holder in zip(media_ids, holders, strict=True) if holder == tweet_id]
            await asyncio.gather(*(self._store.detach(i, tweet_id) for i in won))
            await asyncio.gather(*(self._store.unindex(i, tweet_id) for i in media_ids))
            gone = [i for i, holder in zip(media_ids, holders, strict=True) if holder is None]
            if gone:
                raise NotFound(f"media {', '.join(map(str, gone))} not found")
            raise FailedPrecondition("a media item was attached to another tweet meanwhile")
        await asyncio.gather(*(self._store.settle(i, tweet_id) for i in media_ids))
        return [replace(found[i], tweet_id=tweet_id) for i in media_ids]

    # Removal.

    async def remove_of_tweet(self, tweet_id: int) -> int:
        """Removes the media of a deleted tweet; returns how many. Idempotent."""
        ids = await self._store.of_tweet(tweet_id)
        found = await self._store.get(ids)
        removed = 0
        for media_id in ids:
            media = found.get(media_id)
            if media is None:
                await self._store.unindex(media_id, tweet_id)
            elif media.tweet_id == tweet_id:
                await self._remove(media)
                removed += 1
            else:
                # Indexed by an attach that lost, or never finished: not this tweet's.
                await self._store.unindex(media_id, tweet_id)
        return removed

    async def remove_of_owner(self, owner_id: int) -> bool:
        """Removes every upload of a deleted account, photos and videos, attached or not (their
        objects, then their rows); True once none is left, False if one was attached while it
        ran (the next call removes it). Idempotent, and resumable: an item leaves the owner's
        index with its row, so a call that stopped half-way is finished by the next."""
        after, complete = 0, True
        while ids := await self._store.of_owner(owner_id, after, ERASE_BATCH):
            found = await self._store.get(ids)
            for media_id in ids:
                media = found.get(media_id)
                if media is None:
                    await self._store.unindex_owner(owner_id, media_id)
                elif media.tweet_id != 0 or await self._store.doom(media_id):
                    await self._remove(media)
                else:
                    complete = False
            after = ids[-1]
        return complete

    async def sweep(self, max_age_seconds: float) -> int:
        """Removes uploads never attached within ``max_age_seconds``; returns how many."""
        cutoff_ms = self._clock_ms() - int(max_age_seconds * 1000)
        before_id = compose(max(cutoff_ms, CHIRP_EPOCH_MS), 0, 0)
        removed = 0
        while ids := await self._store.pending(before_id, SWEEP_BATCH):
            found = await self._store.get(ids)
            progress = 0
            for media_id in ids:
                media = found.get(media_id)
                if media is None or media.tweet_id > 0:
                    # Gone, or attached by a request that died before clearing the mark.
                    await self._store.settle(media_id, 0 if media is None else media.tweet_id)
                    progress += 1
                elif media.tweet_id == DOOMED or await self._store.doom(media_id):
                    await self._remove(media)
                    removed += 1
                    progress += 1
            # An attach racing the sweep keeps its items; they leave the pending set with it.
            if len(ids) < SWEEP_BATCH or progress == 0:
                break
        return removed

    async def _remove(self, media: Media) -> None:
        await self._objects.delete(media.keys)
        await self._store.remove(media)
        log.info("media removed", media_id=media.id, tweet_id=media.tweet_id)


def _check_attach(tweet_id: int, owner_id: int, media_ids: Sequence[int]) -> None:
    problems = []
    if tweet_id <= 0:
        problems.append(FieldViolation("tweet_id", "must be a tweet id (a positive integer)"))
    if owner_id <= 0:
        problems.append(FieldViolation("owner_id", "must be a user id (a positive integer)"))
    if not 1 <= len(media_ids) <= MAX_ATTACH:
        problems.append(FieldViolation("media_ids", f"1 to {MAX_ATTACH} media ids"))
    elif len(set(media_ids)) != len(media_ids):
        problems.append(FieldViolation("media_ids", "must not repeat an id"))
    elif any(media_id <= 0 for media_id in media_ids):
        problems.append(FieldViolation("media_ids", "must be media ids (positive integers)"))
    if problems:
        raise InvalidArgument(*problems)


def _refuse_unfit(items: Sequence[Media]) -> None:
    """A tweet carries one video, or up to four photos, and only media that are ready."""
    if len(items) > 1 and any(m.kind is Kind.VIDEO for m in items):
        raise InvalidArgument.field(
            "media_ids", f"a tweet carries one video, or up to {MAX_ATTACH} photos"
        )
    processing = [str(m.id) for m in items if m.state is State.PROCESSING]
    if processing:
        raise FailedPrecondition(
            f"media {', '.join(processing)} still processing: attach it once its state is "
            "STATE_READY"
        )
    failed = [str(m.id) for m in items if m.state is State.FAILED]
    if failed:
        raise FailedPrecondition(f"media {', '.join(failed)} failed processing: upload it again")


def _refuse_taken(items: Sequence[Media], tweet_id: int) -> None:
    taken = [m.id for m in items if m.tweet_id not in (0, tweet_id)]
    if taken:
        raise FailedPrecondition(
            f"media {', '.join(map(str, taken))} already attached to another tweet"
        )
