"""Media metadata on Cassandra/ScyllaDB (tables of ``services/media/schema/0008_media.cql``, the
columns of ``0012_video.cql``, ``media_by_owner`` of ``0016_media_by_owner.cql``). A video's
row and the event that asks for its processing are one logged batch with the outbox row
(``Outbox.add``); an item's owner index row is written and deleted in the batch of the item."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from cassandra.cluster import Session
from cassandra.query import BatchStatement

from services.media.model import DOOMED, Kind, Media, State, Stored, VideoUploaded
from services.platform.cql import execute
from services.platform.outbox import Outbox
from services.platform.subjects import MEDIA_VIDEO_UPLOADED

#: Partitions of ``media_pending``: spreads uploads over the cluster, read all by the sweep.
SHARDS = 16

_COLUMNS = (
    "id, owner_id, alt_text, tweet_id, content_type, width, height, size_bytes, sha256, "
    "full_key, thumb_content_type, thumb_width, thumb_height, thumb_size_bytes, thumb_sha256, "
    "thumb_key, kind, state, duration_ms, failure, source_key"
)
#: What processing a video sets (the columns of ``Stored`` twice, then the video's own).
_PROCESSED = (
    "content_type = ?, width = ?, height = ?, size_bytes = ?, sha256 = ?, full_key = ?, "
    "thumb_content_type = ?, thumb_width = ?, thumb_height = ?, thumb_size_bytes = ?, "
    "thumb_sha256 = ?, thumb_key = ?, state = ?, duration_ms = ?, failure = ?"
)


def _media(row: Any) -> Media:
    return Media(
        id=row.id,
        owner_id=row.owner_id,
        alt_text=row.alt_text or "",
        tweet_id=row.tweet_id or 0,
        full=Stored(
            row.full_key, row.content_type, row.size_bytes, row.sha256, row.width, row.height
        ),
        thumbnail=Stored(
            row.thumb_key,
            row.thumb_content_type,
            row.thumb_size_bytes,
            row.thumb_sha256,
            row.thumb_width,
            row.thumb_height,
        ),
        kind=Kind(row.kind or Kind.PHOTO),
        state=State(row.state or State.READY),
        duration_ms=row.duration_ms or 0,
        failure=row.failure or "",
        source_key=row.source_key or "",
    )


def _stored_values(stored: Stored) -> tuple[Any, ...]:
    return (
        stored.content_type, stored.width, stored.height, stored.size_bytes, stored.sha256,
        stored.key,
    )  # fmt: skip


def _applied(rows: Any) -> bool:
    return bool(rows.one()[0])


class CassandraMediaStore:
    def __init__(self, session: Session, outbox: Outbox) -> None:
        self._session = session
        self._outbox = outbox
        prepare = session.prepare
        # Built from constants only; values are always bound.
        columns = _COLUMNS
        self._insert = prepare(
            f"INSERT INTO media_items ({columns}) VALUES ({', '.join('?' * 21)})"  # noqa: S608
        )
        self._select = prepare(f"SELECT {columns} FROM media_items WHERE id IN ?")  # noqa: S608
        self._attach = prepare("UPDATE media_items SET tweet_id = ? WHERE id = ? IF tweet_id = 0")
        self._holder = prepare("SELECT tweet_id FROM media_items WHERE id = ?")
        self._detach = prepare("UPDATE media_items SET tweet_id = 0 WHERE id = ? IF tweet_id = ?")
        self._doom = prepare(
            f"UPDATE media_items SET tweet_id = {DOOMED} WHERE id = ? IF tweet_id = 0"  # noqa: S608
        )
        self._processed = prepare(
            f"UPDATE media_items SET {_PROCESSED} WHERE id = ? "  # noqa: S608
            f"IF state = {State.PROCESSING} AND tweet_id = 0"
        )
        self._source_removed = prepare("UPDATE media_items SET source_key = '' WHERE id = ?")
        self._delete = prepare("DELETE FROM media_items WHERE id = ?")
        self._add_pending = prepare("INSERT INTO media_pending (shard, media_id) VALUES (?, ?)")
        self._remove_pending = prepare("DELETE FROM media_pending WHERE shard = ? AND media_id = ?")
        self._pending = prepare(
            "SELECT media_id FROM media_pending WHERE shard = ? AND media_id < ? LIMIT ?"
        )
        self._index = prepare("INSERT INTO media_by_tweet (tweet_id, media_id) VALUES (?, ?)")
        self._unindex = prepare("DELETE FROM media_by_tweet WHERE tweet_id = ? AND media_id = ?")
        self._of_tweet = prepare("SELECT media_id FROM media_by_tweet WHERE tweet_id = ?")
        self._index_owner = prepare("INSERT INTO media_by_owner (owner_id, media_id) VALUES (?, ?)")
        self._unindex_owner = prepare(
            "DELETE FROM media_by_owner WHERE owner_id = ? AND media_id = ?"
        )
        self._of_owner = prepare(
            "SELECT media_id FROM media_by_owner WHERE owner_id = ? AND media_id > ? LIMIT ?"
        )

    async def add(self, media: Media, uploaded: VideoUploaded | None = None) -> None:
        batch = BatchStatement()
        batch.add(
            self._insert,
            (
                media.id, media.owner_id, media.alt_text, media.tweet_id,
                *_stored_values(media.full), *_stored_values(media.thumbnail),
                int(media.kind), int(media.state), media.duration_ms, media.failure,
                media.source_key,
            ),
        )  # fmt: skip
        batch.add(self._add_pending, (media.id % SHARDS, media.id))
        batch.add(self._index_owner, (media.owner_id, media.id))
        if uploaded is None:
            await execute(self._session, batch)
            return
        event = MEDIA_VIDEO_UPLOADED.type(
            event_id=uploaded.event_id, media_id=uploaded.media_id, owner_id=uploaded.owner_id
        )
        row = self._outbox.add(batch, MEDIA_VIDEO_UPLOADED, event)
        await execute(self._session, batch)
        self._outbox.committed(row)

    async def processed(self, media: Media) -> bool:
        values = (
            *_stored_values(media.full), *_stored_values(media.thumbnail),
            int(media.state), media.duration_ms, media.failure, media.id,
        )  # fmt: skip
        return _applied(await execute(self._session, self._processed, values))

    async def source_removed(self, media_id: int) -> None:
        await execute(self._session, self._source_removed, (media_id,))

    async def get(self, ids: Sequence[int]) -> dict[int, Media]:
        if not ids:
            return {}
        rows = await execute(self._session, self._select, (list(ids),))
        return {row.id: _media(row) for row in rows}

    async def attach(self, media_id: int, tweet_id: int) -> int | None:
        rows = await execute(self._session, self._attach, (tweet_id, media_id))
        if _applied(rows):
            return tweet_id
        row = (await execute(self._session, self._holder, (media_id,))).one()
        if row is None or row.tweet_id == DOOMED:
            return None
        holder: int = row.tweet_id
        return holder

    async def detach(self, media_id: int, tweet_id: int) -> None:
        await execute(self._session, self._detach, (media_id, tweet_id))

    async def settle(self, media_id: int, _tweet_id: int) -> None:
        await execute(self._session, self._remove_pending, (media_id % SHARDS, media_id))

    async def index(self, media_id: int, tweet_id: int) -> None:
        await execute(self._session, self._index, (tweet_id, media_id))

    async def unindex(self, media_id: int, tweet_id: int) -> None:
        await execute(self._session, self._unindex, (tweet_id, media_id))

    async def of_tweet(self, tweet_id: int) -> list[int]:
        rows = await execute(self._session, self._of_tweet, (tweet_id,))
        return [row.media_id for row in rows]

    async def of_owner(self, owner_id: int, after_id: int, limit: int) -> list[int]:
        rows = await execute(self._session, self._of_owner, (owner_id, after_id, limit))
        return [row.media_id for row in rows]

    async def unindex_owner(self, owner_id: int, media_id: int) -> None:
        await execute(self._session, self._unindex_owner, (owner_id, media_id))

    async def pending(self, before_id: int, limit: int) -> list[int]:
        shards = await asyncio.gather(
            *(
                execute(self._session, self._pending, (shard, before_id, limit))
                for shard in range(SHARDS)
            )
        )
        return sorted(row.media_id for rows in shards for row in rows)[:limit]

    async def doom(self, media_id: int) -> bool:
        return _applied(await execute(self._session, self._doom, (media_id,)))

    async def remove(self, media: Media) -> None:
        batch = BatchStatement()
        batch.add(self._delete, (media.id,))
        batch.add(self._remove_pending, (media.id % SHARDS, media.id))
        batch.add(self._unindex_owner, (media.owner_id, media.id))
        if media.tweet_id > 0:
            batch.add(self._unindex, (media.tweet_id, media.id))
        await execute(self._session, batch)
