"""Domain objects as ``chirp.tweets.v1`` / ``chirp.events.v1`` messages, and back (the cache)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from chirp.media.v1 import media_pb2
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from services.platform.subjects import (
    TWEETS_CREATED,
    TWEETS_DELETED,
    TWEETS_EDITED,
    TWEETS_LIKED,
    TWEETS_RETWEETED,
    TWEETS_UNLIKED,
    TWEETS_UNRETWEETED,
    Subject,
)
from services.platform.subjects import Event as OutboxEvent
from services.tweets.model import (
    Attachment,
    Author,
    Counts,
    Event,
    Tweet,
    TweetCreated,
    TweetDeleted,
    TweetEdited,
    TweetLiked,
    TweetRetweeted,
    TweetUnliked,
    TweetUnretweeted,
    TweetView,
    VersionView,
)
from services.tweets.text import Entities, Hashtag, Link, Mention


def timestamp(moment: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(moment)
    return message


def moment(message: Timestamp) -> datetime:
    return message.ToDatetime(tzinfo=UTC)


def user_message(author: Author) -> user_pb2.User:
    message = user_pb2.User(
        id=author.id,
        username=author.username,
        display_name=author.display_name,
        bio=author.bio,
    )
    if author.create_time is not None:
        message.create_time.CopyFrom(timestamp(author.create_time))
    return message


def author_of(message: user_pb2.User) -> Author:
    return Author(
        id=message.id,
        username=message.username,
        display_name=message.display_name,
        bio=message.bio,
        create_time=moment(message.create_time) if message.HasField("create_time") else None,
    )


def attachment_message(photo: Attachment) -> media_pb2.Media:
    message = media_pb2.Media(
        id=photo.id,
        owner_id=photo.owner_id,
        url=photo.url,
        thumbnail_url=photo.thumbnail_url,
        content_type=photo.content_type,
        width=photo.width,
        height=photo.height,
        size_bytes=photo.size_bytes,
        alt_text=photo.alt_text,
        tweet_id=photo.tweet_id,
        kind=media_pb2.Media.Kind.ValueType(photo.kind),
        state=media_pb2.Media.State.ValueType(photo.state),
        duration_ms=photo.duration_ms,
    )
    if photo.create_time is not None:
        message.create_time.CopyFrom(timestamp(photo.create_time))
    return message


def attachment_of(message: media_pb2.Media) -> Attachment:
    return Attachment(
        id=message.id,
        owner_id=message.owner_id,
        url=message.url,
        thumbnail_url=message.thumbnail_url,
        content_type=message.content_type,
        width=message.width,
        height=message.height,
        size_bytes=message.size_bytes,
        alt_text=message.alt_text,
        tweet_id=message.tweet_id,
        create_time=moment(message.create_time) if message.HasField("create_time") else None,
        kind=message.kind,
        state=message.state,
        duration_ms=message.duration_ms,
    )


def entities_message(entities: Entities) -> tweet_pb2.TweetEntities:
    return tweet_pb2.TweetEntities(
        hashtags=[
            tweet_pb2.HashtagEntity(start=h.start, end=h.end, tag=h.tag) for h in entities.hashtags
        ],
        mentions=[
            tweet_pb2.MentionEntity(
                start=m.start, end=m.end, username=m.username, user_id=m.user_id
            )
            for m in entities.mentions
        ],
        urls=[tweet_pb2.UrlEntity(start=u.start, end=u.end, url=u.url) for u in entities.urls],
    )


def entities_of(message: tweet_pb2.TweetEntities) -> Entities:
    return Entities(
        hashtags=tuple(Hashtag(h.start, h.end, h.tag) for h in message.hashtags),
        mentions=tuple(Mention(m.start, m.end, m.username, m.user_id) for m in message.mentions),
        urls=tuple(Link(u.start, u.end, u.url) for u in message.urls),
    )


def tweet_message(view: TweetView) -> tweet_pb2.Tweet:
    """The full message; a shallow retweet view gets ``retweet_of`` with just the id."""
    tweet = view.tweet
    message = tweet_pb2.Tweet(
        id=tweet.id,
        author=user_message(view.author),
        text=tweet.text,
        create_time=timestamp(tweet.create_time),
        reply_to_id=tweet.reply_to_id,
        like_count=view.counts.likes,
        retweet_count=view.counts.retweets,
        reply_count=view.counts.replies,
        entities=entities_message(tweet.entities),
        media=[
            attachment_message(photo)
            for photo in view.media or tuple(Attachment(media_id) for media_id in tweet.media_ids)
        ],
    )
    if tweet.edit_time is not None:
        message.edit_time.CopyFrom(timestamp(tweet.edit_time))
    if view.retweet_of is not None:
        message.retweet_of.CopyFrom(tweet_message(view.retweet_of))
    elif tweet.is_retweet:
        message.retweet_of.id = tweet.retweet_of_id
    return message


def shallow_view_of(message: tweet_pb2.Tweet) -> TweetView:
    """The inverse of ``tweet_message`` on a shallow view (as the cache stores them)."""
    tweet = Tweet(
        id=message.id,
        author_id=message.author.id,
        text=message.text,
        entities=entities_of(message.entities),
        reply_to_id=message.reply_to_id,
        retweet_of_id=message.retweet_of.id if message.HasField("retweet_of") else 0,
        media_ids=tuple(media.id for media in message.media),
        edit_time=moment(message.edit_time) if message.HasField("edit_time") else None,
    )
    counts = Counts(message.like_count, message.retweet_count, message.reply_count)
    media = tuple(attachment_of(photo) for photo in message.media)
    return TweetView(tweet, author_of(message.author), counts, media=media)


def version_message(entry: VersionView) -> tweet_pb2.TweetVersion:
    version = entry.version
    return tweet_pb2.TweetVersion(
        tweet_id=version.tweet_id,
        version_number=version.number,
        text=version.text,
        entities=entities_message(version.entities),
        create_time=timestamp(version.create_time),
        replace_time=timestamp(entry.replace_time),
    )


#: Events whose fields are plain values, with the subject of each.
_FLAT_EVENTS: dict[type, Subject[Any]] = {
    TweetDeleted: TWEETS_DELETED,
    TweetLiked: TWEETS_LIKED,
    TweetUnliked: TWEETS_UNLIKED,
    TweetRetweeted: TWEETS_RETWEETED,
    TweetUnretweeted: TWEETS_UNRETWEETED,
}


def event_message(event: Event) -> tuple[Subject[Any], OutboxEvent]:
    """The subject of an event, and its message (of the subject's type)."""
    if isinstance(event, TweetCreated | TweetEdited):
        whole: Subject[Any] = TWEETS_CREATED if isinstance(event, TweetCreated) else TWEETS_EDITED
        message = whole.type(
            event_id=event.event_id,
            occur_time=timestamp(event.occur_time),
            tweet=tweet_message(event.tweet),
        )
        return whole, message
    flat = _FLAT_EVENTS[type(event)]
    values: dict[str, Any] = {field.name: getattr(event, field.name) for field in fields(event)}
    values["occur_time"] = timestamp(event.occur_time)
    return flat, flat.type(**values)
