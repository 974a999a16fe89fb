"""The media domain's data: an uploaded photo or video as stored. Plain data, no gRPC, CQL or S3."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

from services.platform.ids import timestamp_ms

#: ``tweet_id`` of an upload that the cleanup has claimed for removal: it can no longer be
#: attached, and readers see it as gone.
DOOMED = -1


class Kind(IntEnum):
    PHOTO = 1
    VIDEO = 2


class State(IntEnum):
    """Photos are READY from their upload; a video is PROCESSING until its transcode is done."""

    PROCESSING = 1
    READY = 2
    FAILED = 3


@dataclass(frozen=True)
class Stored:
    """One encoded image in the object store: its key, type, size and content hash (the ETag)."""

    key: str  # empty while there is nothing to serve (a video being processed)
    content_type: str
    size_bytes: int
    sha256: str
    width: int
    height: int


#: The thumbnail of a video being processed: none yet.
NOTHING = Stored("", "", 0, "", 0, 0)


@dataclass(frozen=True)
class Media:
    """An upload. ``full`` is what its URL serves (a video's rendition; while it is processed,
    a description of the upload, whose bytes are at ``source_key``) and ``thumbnail`` a photo's
    smaller copy or a video's poster."""

    id: int
    owner_id: int
    full: Stored
    thumbnail: Stored
    alt_text: str = ""
    tweet_id: int = 0
    kind: Kind = Kind.PHOTO
    state: State = State.READY
    duration_ms: int = 0
    #: Why processing failed (state FAILED).
    failure: str = ""
    #: A video's upload as sent, kept until its rendition is stored.
    source_key: str = ""

    @property
    def keys(self) -> list[str]:
        """Every object the item has in the object store."""
        return [key for key in (self.full.key, self.thumbnail.key, self.source_key) if key]

    @property
    def create_time(self) -> datetime:
        return datetime.fromtimestamp(timestamp_ms(self.id) / 1000, tz=UTC)

    @property
    def live(self) -> bool:
        return self.tweet_id != DOOMED


@dataclass(frozen=True)
class VideoUploaded:
    """The event that asks for a video's processing (subject ``media.video_uploaded``)."""

    event_id: str
    media_id: int
    owner_id: int
