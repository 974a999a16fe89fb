"""The media domain's data: an uploaded photo as stored. Plain data, no gRPC, CQL or S3."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.platform.ids import timestamp_ms

#: ``tweet_id`` of an upload that the cleanup has claimed for removal: it can no longer be
#: attached, and readers see it as gone.
DOOMED = -1


@dataclass(frozen=True)
class Stored:
    """One encoded image in the object store: its key, type, size and content hash (the ETag)."""

    key: str
    content_type: str
    size_bytes: int
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class Media:
    id: int
    owner_id: int
    full: Stored
    thumbnail: Stored
    alt_text: str = ""
    tweet_id: int = 0

    @property
    def create_time(self) -> datetime:
        return datetime.fromtimestamp(timestamp_ms(self.id) / 1000, tz=UTC)

    @property
    def live(self) -> bool:
        return self.tweet_id != DOOMED
