"""The tweets store on Cassandra/ScyllaDB (tables of migrations 0001 and 0004).

Every statement runs at LOCAL_QUORUM (LOCAL_SERIAL for lightweight transactions), so a read
sees what an acknowledged write or claim wrote, on one node as on a replicated cluster. A write
and its event go into one logged batch with the outbox row (``Outbox.add``); counters, which
Cassandra cannot batch with other rows, are updated (and erased) by their own statements.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from services.platform.cql import execute, insert_if_absent
from services.platform.outbox import Outbox
from services.tweets.convert import event_message
from services.tweets.model import (
    Counts,
    Event,
    Tweet,
    TweetCreated,
    TweetDeleted,
    TweetLiked,
    TweetRetweeted,
    TweetUnliked,
    TweetUnretweeted,
    Version,
)
from services.tweets.ports import Claim, Engagement, Listed
from services.tweets.text import Entities, Hashtag, Link, Mention
from services.tweets.timeline import bucket_of

_MAX_ID = 2**63 - 1
_MIN_TOKEN = -(2**63)
#: 1970-01-01 in a time-based UUID's 100-nanosecond intervals since 1582-10-15.
_UUID_EPOCH = 0x01B21DD213814000


def entities_json(entities: Entities) -> str:
    return json.dumps(
        {
            "hashtags": [[h.start, h.end, h.tag] for h in entities.hashtags],
            "mentions": [[m.start, m.end, m.username, m.user_id] for m in entities.mentions],
            "urls": [[u.start, u.end, u.url] for u in entities.urls],
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def entities_from_json(stored: str | None) -> Entities:
    if not stored:
        return Entities()
    data = json.loads(stored)
    return Entities(
        hashtags=tuple(Hashtag(*h) for h in data.get("hashtags", [])),
        mentions=tuple(Mention(*m) for m in data.get("mentions", [])),
        urls=tuple(Link(*u) for u in data.get("urls", [])),
    )


#: A statement of a batch with its parameters.
Row = tuple[PreparedStatement, tuple[Any, ...]]


def _logged(rows: Sequence[Row]) -> BatchStatement:
    """``rows`` as one logged batch: all of them land, or none."""
    batch = BatchStatement(
        batch_type=BatchType.LOGGED, consistency_level=ConsistencyLevel.LOCAL_QUORUM
    )
    for statement, parameters in rows:
        batch.add(statement, parameters)
    return batch


def _utc(moment: datetime | None) -> datetime | None:
    """The driver reads timestamps as naive UTC datetimes."""
    return None if moment is None else moment.replace(tzinfo=UTC)


def _tweet(row: Any) -> Tweet | None:
    if row.author_id is None:  # a row holding nothing but a deletion mark
        return None
    return Tweet(
        id=row.id,
        author_id=row.author_id,
        text=row.text or "",
        entities=entities_from_json(row.entities),
        reply_to_id=row.reply_to_id or 0,
        retweet_of_id=row.retweet_of_id or 0,
        media_ids=tuple(row.media_ids or ()),
        edit_time=_utc(row.edit_time),
        deleted=row.delete_time is not None,
    )


class CassandraTweetStore:
    def __init__(self, session: Session, outbox: Outbox) -> None:
        self._session = session
        self._outbox = outbox
        prepare = self._prepare
        self._select_tweet = prepare(
            "SELECT id, author_id, text, entities, media_ids, reply_to_id, retweet_of_id, "
            "edit_time, delete_time FROM tweets WHERE id = ?"
        )
        self._scan = prepare(
            "SELECT token(id) AS position, id, author_id, text, entities, media_ids, reply_to_id, "
            "retweet_of_id, edit_time, delete_time FROM tweets WHERE token(id) > ? LIMIT ?"
        )
        self._select_counts = prepare(
            "SELECT like_count, retweet_count, reply_count FROM tweet_counters WHERE tweet_id = ?"
        )
        self._select_tweet_count = prepare(
            "SELECT tweet_count FROM user_counters WHERE user_id = ?"
        )
        self._select_versions = prepare(
            "SELECT version, text, entities, create_time FROM tweet_versions WHERE tweet_id = ?"
        )
        self._select_replies = prepare(
            "SELECT tweet_id FROM tweet_replies WHERE parent_id = ? AND tweet_id > ? "
            "ORDER BY tweet_id ASC LIMIT ?"
        )
        self._select_likers = prepare(
            "SELECT like_id, user_id FROM tweet_likers WHERE tweet_id = ? LIMIT ?"
        )
        self._select_likers_before = prepare(
            "SELECT like_id, user_id FROM tweet_likers WHERE tweet_id = ? AND like_id < ? LIMIT ?"
        )
        self._select_liked = prepare(
            "SELECT like_id, tweet_id FROM user_likes WHERE user_id = ? LIMIT ?"
        )
        self._select_liked_before = prepare(
            "SELECT like_id, tweet_id FROM user_likes WHERE user_id = ? AND like_id < ? LIMIT ?"
        )
        self._select_retweets = prepare(
            "SELECT retweet_id, user_id FROM tweet_retweets WHERE tweet_id = ? LIMIT ?"
        )
        self._select_retweets_after = prepare(
            "SELECT retweet_id, user_id FROM tweet_retweets "
            "WHERE tweet_id = ? AND retweet_id > ? LIMIT ?"
        )
        self._select_buckets = prepare(
            "SELECT bucket FROM user_tweet_buckets WHERE user_id = ? LIMIT ?"
        )
        self._select_buckets_at_most = prepare(
            "SELECT bucket FROM user_tweet_buckets WHERE user_id = ? AND bucket <= ? LIMIT ?"
        )
        self._select_timeline = prepare(
            "SELECT tweet_id FROM user_tweets WHERE user_id = ? AND bucket = ? "
            "AND tweet_id < ? AND tweet_id >= ? LIMIT ?"
        )
        self._select_key = prepare(
            "SELECT tweet_id FROM idempotency_keys WHERE author_id = ? AND idempotency_key = ?"
        )
        self._claim_key = prepare(
            "INSERT INTO idempotency_keys (author_id, idempotency_key, tweet_id) "
            "VALUES (?, ?, ?) IF NOT EXISTS"
        )
        self._insert_tweet = prepare(
            "INSERT INTO tweets (id, author_id, text, entities, media_ids, reply_to_id, "
            "retweet_of_id, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._insert_timeline = prepare(
            "INSERT INTO user_tweets (user_id, bucket, tweet_id) VALUES (?, ?, ?)"
        )
        self._delete_timeline = prepare(
            "DELETE FROM user_tweets WHERE user_id = ? AND bucket = ? AND tweet_id = ?"
        )
        self._insert_bucket = prepare(
            "INSERT INTO user_tweet_buckets (user_id, bucket) VALUES (?, ?)"
        )
        self._insert_reply = prepare(
            "INSERT INTO tweet_replies (parent_id, tweet_id, author_id) VALUES (?, ?, ?)"
        )
        self._delete_reply = prepare(
            "DELETE FROM tweet_replies WHERE parent_id = ? AND tweet_id = ?"
        )
        self._insert_retweet = prepare(
            "INSERT INTO tweet_retweets (tweet_id, retweet_id, user_id) VALUES (?, ?, ?)"
        )
        self._delete_retweet = prepare(
            "DELETE FROM tweet_retweets WHERE tweet_id = ? AND retweet_id = ?"
        )
        self._add_counts = prepare(
            "UPDATE tweet_counters SET like_count = like_count + ?, "
            "retweet_count = retweet_count + ?, reply_count = reply_count + ? WHERE tweet_id = ?"
        )
        self._add_tweet_count = prepare(
            "UPDATE user_counters SET tweet_count = tweet_count + ? WHERE user_id = ?"
        )
        self._insert_version = prepare(
            "INSERT INTO tweet_versions (tweet_id, version, text, entities, create_time) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        self._replace_text = prepare(
            "UPDATE tweets SET text = ?, entities = ?, edit_time = ? WHERE id = ? "
            "IF edit_time = ? AND delete_time = null"
        )
        self._mark_deleted = prepare(
            "UPDATE tweets SET delete_time = ? WHERE id = ? IF delete_time = null"
        )
        self._claim = prepare(
            "INSERT INTO engagement_claims (tweet_id, user_id, kind, ref) "
            "VALUES (?, ?, ?, ?) IF NOT EXISTS"
        )
        self._select_claim = prepare(
            "SELECT ref FROM engagement_claims WHERE tweet_id = ? AND user_id = ? AND kind = ?"
        )
        self._claimed = prepare(
            "SELECT tweet_id, kind FROM engagement_claims "
            "WHERE tweet_id IN ? AND user_id = ? AND kind IN ('like', 'retweet')"
        )
        self._release = prepare(
            "DELETE FROM engagement_claims WHERE tweet_id = ? AND user_id = ? AND kind = ? "
            "IF ref = ?"
        )
        self._select_liker = prepare(
            "SELECT user_id FROM tweet_likers WHERE tweet_id = ? AND like_id = ?"
        )
        # Like rows are written at the like's own time, so an unlike's deletes (written later)
        # shadow them even when a racing like's batch lands after the unlike.
        self._insert_liker = prepare(
            "INSERT INTO tweet_likers (tweet_id, like_id, user_id) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?"
        )
        self._delete_liker = prepare("DELETE FROM tweet_likers WHERE tweet_id = ? AND like_id = ?")
        self._insert_liked = prepare(
            "INSERT INTO user_likes (user_id, like_id, tweet_id) VALUES (?, ?, ?) USING TIMESTAMP ?"
        )
        self._delete_liked = prepare("DELETE FROM user_likes WHERE user_id = ? AND like_id = ?")
        # An erased account's rows: whole partitions keyed by its tweets, then its own.
        self._erase_tweet = prepare("DELETE FROM tweets WHERE id = ?")
        self._erase_versions = prepare("DELETE FROM tweet_versions WHERE tweet_id = ?")
        self._erase_counters = prepare("DELETE FROM tweet_counters WHERE tweet_id = ?")
        self._erase_likers = prepare("DELETE FROM tweet_likers WHERE tweet_id = ?")
        self._erase_retweets = prepare("DELETE FROM tweet_retweets WHERE tweet_id = ?")
        self._erase_replies = prepare("DELETE FROM tweet_replies WHERE parent_id = ?")
        self._erase_buckets = prepare("DELETE FROM user_tweet_buckets WHERE user_id = ?")
        self._erase_user_counters = prepare("DELETE FROM user_counters WHERE user_id = ?")

    def _prepare(self, statement: str) -> PreparedStatement:
        prepared = self._session.prepare(statement)
        prepared.consistency_level = ConsistencyLevel.LOCAL_QUORUM
        prepared.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        return prepared

    async def _rows(self, statement: PreparedStatement, *parameters: Any) -> list[Any]:
        return list(await execute(self._session, statement, parameters))

    async def _one(self, statement: PreparedStatement, *parameters: Any) -> Any:
        return (await execute(self._session, statement, parameters)).one()

    async def _write(self, event: Event, *rows: Row) -> None:
        """``rows`` and ``event`` as one logged batch: all of them land, or none."""
        batch = _logged(rows)
        row = self._outbox.add(batch, *event_message(event))
        await execute(self._session, batch)
        self._outbox.committed(row)

    # Reads.

    async def tweets(self, ids: Sequence[int]) -> dict[int, Tweet]:
        rows = await asyncio.gather(*(self._one(self._select_tweet, i) for i in ids))
        found = (_tweet(row) for row in rows if row is not None)
        return {tweet.id: tweet for tweet in found if tweet is not None}

    async def counts(self, ids: Sequence[int]) -> dict[int, Counts]:
        rows = await asyncio.gather(*(self._one(self._select_counts, i) for i in ids))
        return {
            tweet_id: Counts(
                max(row.like_count or 0, 0),
                max(row.retweet_count or 0, 0),
                max(row.reply_count or 0, 0),
            )
            for tweet_id, row in zip(ids, rows, strict=True)
            if row is not None
        }

    async def user_tweet_counts(self, user_ids: Sequence[int]) -> dict[int, int]:
        rows = await asyncio.gather(*(self._one(self._select_tweet_count, u) for u in user_ids))
        return {
            user_id: max(row.tweet_count or 0, 0)
            for user_id, row in zip(user_ids, rows, strict=True)
            if row is not None
        }

    async def versions(self, tweet_id: int) -> list[Version]:
        rows = await self._rows(self._select_versions, tweet_id)
        return [
            Version(
                tweet_id,
                row.version,
                row.text or "",
                entities_from_json(row.entities),
                row.create_time.replace(tzinfo=UTC),
            )
            for row in rows
        ]

    async def reply_ids(self, parent_id: int, after: int | None, limit: int) -> list[int]:
        rows = await self._rows(self._select_replies, parent_id, after or 0, limit)
        return [row.tweet_id for row in rows]

    async def likers(self, tweet_id: int, before: str | None, limit: int) -> list[Listed]:
        rows = await (
            self._rows(self._select_likers, tweet_id, limit)
            if before is None
            else self._rows(self._select_likers_before, tweet_id, uuid.UUID(before), limit)
        )
        return [Listed(str(row.like_id), tweet_id, row.user_id) for row in rows]

    async def liked(self, user_id: int, before: str | None, limit: int) -> list[Listed]:
        rows = await (
            self._rows(self._select_liked, user_id, limit)
            if before is None
            else self._rows(self._select_liked_before, user_id, uuid.UUID(before), limit)
        )
        return [Listed(str(row.like_id), row.tweet_id, user_id) for row in rows]

    async def retweets_of(self, tweet_id: int, limit: int, after: int | None = None) -> list[Tweet]:
        rows = await (
            self._rows(self._select_retweets, tweet_id, limit)
            if after is None
            else self._rows(self._select_retweets_after, tweet_id, after, limit)
        )
        return [
            Tweet(id=row.retweet_id, author_id=row.user_id, retweet_of_id=tweet_id) for row in rows
        ]

    async def scan(self, after: int | None, limit: int) -> tuple[list[Tweet], int | None]:
        rows = await self._rows(self._scan, _MIN_TOKEN if after is None else after, limit)
        tweets = [tweet for tweet in map(_tweet, rows) if tweet is not None]
        return tweets, rows[-1].position if len(rows) == limit else None

    async def buckets(self, user_id: int, at_most: int | None, limit: int) -> list[int]:
        rows = await (
            self._rows(self._select_buckets, user_id, limit)
            if at_most is None
            else self._rows(self._select_buckets_at_most, user_id, at_most, limit)
        )
        return [row.bucket for row in rows]

    async def ids(
        self, user_id: int, bucket: int, before: int | None, since: int, limit: int
    ) -> list[int]:
        upper = _MAX_ID if before is None else before
        rows = await self._rows(self._select_timeline, user_id, bucket, upper, since, limit)
        return [row.tweet_id for row in rows]

    # Posting.

    async def idempotent_tweet(self, author_id: int, key: str) -> int | None:
        row = await self._one(self._select_key, author_id, key)
        return None if row is None else int(row.tweet_id)

    async def claim_idempotency_key(self, author_id: int, key: str, tweet_id: int) -> int:
        row = await insert_if_absent(self._session, self._claim_key, (author_id, key, tweet_id))
        return tweet_id if row.applied else int(row.tweet_id)

    async def create(self, tweet: Tweet, event: TweetCreated | TweetRetweeted) -> None:
        bucket = bucket_of(tweet.id)
        rows: list[Row] = [
            (
                self._insert_tweet,
                (
                    tweet.id,
                    tweet.author_id,
                    tweet.text,
                    entities_json(tweet.entities),
                    list(tweet.media_ids),
                    tweet.reply_to_id,
                    tweet.retweet_of_id,
                    tweet.create_time,
                ),
            ),
            (self._insert_timeline, (tweet.author_id, bucket, tweet.id)),
            (self._insert_bucket, (tweet.author_id, bucket)),
        ]
        if tweet.reply_to_id:
            rows.append((self._insert_reply, (tweet.reply_to_id, tweet.id, tweet.author_id)))
        if tweet.is_retweet:
            rows.append((self._insert_retweet, (tweet.retweet_of_id, tweet.id, tweet.author_id)))
        await self._write(event, *rows)

    async def add_counts(
        self, tweet_id: int, *, likes: int = 0, retweets: int = 0, replies: int = 0
    ) -> None:
        await execute(self._session, self._add_counts, (likes, retweets, replies, tweet_id))

    async def add_tweet_count(self, user_id: int, delta: int) -> None:
        await execute(self._session, self._add_tweet_count, (delta, user_id))

    # Editing.

    async def save_version(self, version: Version) -> None:
        await execute(
            self._session,
            self._insert_version,
            (
                version.tweet_id,
                version.number,
                version.text,
                entities_json(version.entities),
                version.create_time,
            ),
        )

    async def replace_text(self, before: Tweet, after: Tweet) -> bool:
        row = await self._one(
            self._replace_text,
            after.text,
            entities_json(after.entities),
            after.edit_time,
            after.id,
            before.edit_time,
        )
        return bool(row.applied)

    async def publish(self, event: Event) -> None:
        await self._write(event)

    # Deleting.

    async def remove(
        self,
        tweet: Tweet,
        event: TweetDeleted | TweetUnretweeted,
        *,
        from_timeline: bool = True,
    ) -> None:
        rows = [self._timeline_row(tweet)] if from_timeline else []
        if tweet.reply_to_id:
            rows.append((self._delete_reply, (tweet.reply_to_id, tweet.id)))
        if tweet.is_retweet:
            rows.append((self._delete_retweet, (tweet.retweet_of_id, tweet.id)))
        await self._write(event, *rows)

    async def mark_deleted(self, tweet_id: int, when: datetime) -> bool:
        return bool((await self._one(self._mark_deleted, when, tweet_id)).applied)

    def _timeline_row(self, tweet: Tweet) -> Row:
        """The removal of the tweet's row from its author's timeline."""
        return (self._delete_timeline, (tweet.author_id, bucket_of(tweet.id), tweet.id))

    # Erasing.

    async def erase(self, tweet: Tweet) -> None:
        rows: list[Row] = [(self._erase_tweet, (tweet.id,))]
        if not tweet.is_retweet:  # only an original has counters, versions and lists of its own
            await execute(self._session, self._erase_counters, (tweet.id,))
            rows += [
                (statement, (tweet.id,))
                for statement in (
                    self._erase_versions,
                    self._erase_likers,
                    self._erase_retweets,
                    self._erase_replies,
                )
            ]
        rows.append(self._timeline_row(tweet))
        await execute(self._session, _logged(rows))

    async def erase_user(self, user_id: int) -> None:
        await asyncio.gather(
            execute(self._session, self._erase_buckets, (user_id,)),
            execute(self._session, self._erase_user_counters, (user_id,)),
        )

    # Likes and retweets.

    async def claim(self, kind: Engagement, tweet_id: int, user_id: int, ref: str) -> Claim:
        row = await insert_if_absent(self._session, self._claim, (tweet_id, user_id, kind, ref))
        return Claim(ref, new=True) if row.applied else Claim(row.ref, new=row.ref == ref)

    async def claim_of(self, kind: Engagement, tweet_id: int, user_id: int) -> str | None:
        row = await self._one(self._select_claim, tweet_id, user_id, kind)
        return None if row is None else str(row.ref)

    async def claimed(self, user_id: int, tweet_ids: Sequence[int]) -> set[tuple[Engagement, int]]:
        if not tweet_ids:
            return set()
        rows = await execute(self._session, self._claimed, (list(tweet_ids), user_id))
        return {(row.kind, row.tweet_id) for row in rows}

    async def release(self, kind: Engagement, tweet_id: int, user_id: int, ref: str) -> bool:
        return bool((await self._one(self._release, tweet_id, user_id, kind, ref)).applied)

    async def record_like(self, listed: Listed, event: TweetLiked) -> None:
        like_id = uuid.UUID(listed.like_id)
        written = (like_id.time - _UUID_EPOCH) // 10  # microseconds, as Cassandra's timestamps
        await self._write(
            event,
            (self._insert_liker, (listed.tweet_id, like_id, listed.user_id, written)),
            (self._insert_liked, (listed.user_id, like_id, listed.tweet_id, written)),
        )

    async def like_recorded(self, listed: Listed) -> bool:
        row = await self._one(self._select_liker, listed.tweet_id, uuid.UUID(listed.like_id))
        return row is not None

    async def erase_like(self, listed: Listed, event: TweetUnliked) -> None:
        like_id = uuid.UUID(listed.like_id)
        await self._write(
            event,
            (self._delete_liker, (listed.tweet_id, like_id)),
            (self._delete_liked, (listed.user_id, like_id)),
        )
