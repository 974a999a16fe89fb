"""What the media domain needs from the outside world, as Protocols.

The adapters (``adapters/``) are ``store.CassandraMediaStore`` and ``objects.S3ObjectStore``;
``ffmpeg.FfmpegVideoTools``; ``wiring.py`` plugs them in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from services.media.model import Media, VideoUploaded
from services.media.video import Probe, Transcoded


class MediaStore(Protocol):
    """Media rows, the index of each tweet's media and of each owner's, and the uploads not yet
    attached."""

    async def add(self, media: Media, uploaded: VideoUploaded | None = None) -> None:
        """Writes the row, indexes it under its owner and marks it pending (not attached); with
        ``uploaded``, the event that asks for the video's processing; all in one atomic
        write."""
        ...

    async def processed(self, media: Media) -> bool:
        """Stores the outcome of a video's processing (its state, rendition and poster, or
        failure) if it is still processing and not claimed for removal; False otherwise."""
        ...

    async def source_removed(self, media_id: int) -> None:
        """Forgets a processed video's upload object (deleted once its rendition is stored)."""
        ...

    async def get(self, ids: Sequence[int]) -> dict[int, Media]:
        """Stored rows by id, doomed ones included; unknown ids are absent."""
        ...

    async def attach(self, media_id: int, tweet_id: int) -> int | None:
        """Sets the tweet if the item is unattached; returns the tweet it is attached to now
        (``tweet_id``, or another one), or None if the row is gone."""
        ...

    async def detach(self, media_id: int, tweet_id: int) -> None:
        """Undoes ``attach`` if the item is still attached to ``tweet_id``."""
        ...

    async def settle(self, media_id: int, tweet_id: int) -> None:
        """After a successful attach: out of the pending uploads."""
        ...

    async def index(self, media_id: int, tweet_id: int) -> None:
        """Records that ``tweet_id`` may carry ``media_id`` (before it is attached, so the
        cleanup of a deleted tweet always finds its media)."""
        ...

    async def unindex(self, media_id: int, tweet_id: int) -> None: ...

    async def of_tweet(self, tweet_id: int) -> list[int]:
        """Ids indexed for a tweet (the row's ``tweet_id`` says whether it really carries them)."""
        ...

    async def of_owner(self, owner_id: int, after_id: int, limit: int) -> list[int]:
        """Ids indexed under an owner above ``after_id``, ascending, at most ``limit``."""
        ...

    async def unindex_owner(self, owner_id: int, media_id: int) -> None: ...

    async def pending(self, before_id: int, limit: int) -> list[int]:
        """Uploads still marked pending whose id is below ``before_id``."""
        ...

    async def doom(self, media_id: int) -> bool:
        """Claims an unattached item for removal; False if it is attached (or gone)."""
        ...

    async def remove(self, media: Media) -> None:
        """Deletes the row, its pending mark and its index rows (its tweet's, its owner's)."""
        ...


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes:
        """The object's bytes; ``NotFound`` if there is no such object."""
        ...

    def read(self, key: str, first: int, last: int) -> AsyncIterator[bytes]:
        """Bytes ``first`` to ``last`` (inclusive) of the object, in chunks as they arrive;
        ``NotFound`` if there is no such object."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Deletes the objects; absent ones are fine."""
        ...


class VideoTools(Protocol):
    """Probing and transcoding videos (ffprobe and ffmpeg, each run with time and memory
    limits)."""

    async def probe(self, data: bytes, content_type: str) -> Probe:
        """The checked report of an upload that starts like ``content_type``;
        INVALID_ARGUMENT on the field ``content`` if it is not an acceptable video."""
        ...

    async def transcode(self, data: bytes) -> Transcoded:
        """The rendition and poster of an upload; ``VideoFailed`` if that cannot be done."""
        ...
