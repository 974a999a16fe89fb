"""The catalogue of events: every subject of the stream ``CHIRP`` and the ``chirp.events.v1``
message it carries, written here once.

Producers publish through a ``Subject`` (``Outbox.add`` takes the subject and an event of its
type, so the two cannot disagree), and consumers decode with it: a consumer of one subject with
that subject's ``decode``, a consumer of several with ``decode`` by the message's subject.
``events.py`` declares the stream and its consumers from these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

from chirp.events.v1 import (
    graph_events_pb2,
    media_events_pb2,
    timeline_events_pb2,
    tweet_events_pb2,
    user_events_pb2,
)


class Event(Protocol):
    """Every ``chirp.events.v1`` message: an ``event_id``, and protobuf's serialization."""

    event_id: str

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...

    @classmethod
    def FromString(cls, s: bytes) -> Self: ...


E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Subject(Generic[E]):
    """A subject and the message type every event published on it has."""

    name: str
    type: type[E]

    def decode(self, data: bytes) -> E:
        """The event ``data`` holds (protobuf's ``DecodeError`` if it holds none)."""
        return self.type.FromString(data)


TWEETS_CREATED = Subject("tweets.created", tweet_events_pb2.TweetCreatedEvent)
TWEETS_EDITED = Subject("tweets.edited", tweet_events_pb2.TweetEditedEvent)
TWEETS_DELETED = Subject("tweets.deleted", tweet_events_pb2.TweetDeletedEvent)
TWEETS_LIKED = Subject("tweets.liked", tweet_events_pb2.TweetLikedEvent)
TWEETS_UNLIKED = Subject("tweets.unliked", tweet_events_pb2.TweetUnlikedEvent)
TWEETS_RETWEETED = Subject("tweets.retweeted", tweet_events_pb2.TweetRetweetedEvent)
TWEETS_UNRETWEETED = Subject("tweets.unretweeted", tweet_events_pb2.TweetUnretweetedEvent)
GRAPH_FOLLOWED = Subject("graph.followed", graph_events_pb2.UserFollowedEvent)
GRAPH_UNFOLLOWED = Subject("graph.unfollowed", graph_events_pb2.UserUnfollowedEvent)
USERS_CREATED = Subject("users.created", user_events_pb2.UserCreatedEvent)
USERS_UPDATED = Subject("users.updated", user_events_pb2.UserUpdatedEvent)
USERS_DELETED = Subject("users.deleted", user_events_pb2.UserDeletedEvent)
MEDIA_VIDEO_UPLOADED = Subject("media.video_uploaded", media_events_pb2.VideoUploadedEvent)
TIMELINES_FANOUT_PART = Subject("timelines.fanout_part", timeline_events_pb2.FanoutPartEvent)

#: Every subject, by name.
CATALOGUE: dict[str, Subject[Any]] = {
    subject.name: subject
    for subject in (
        TWEETS_CREATED,
        TWEETS_EDITED,
        TWEETS_DELETED,
        TWEETS_LIKED,
        TWEETS_UNLIKED,
        TWEETS_RETWEETED,
        TWEETS_UNRETWEETED,
        GRAPH_FOLLOWED,
        GRAPH_UNFOLLOWED,
        USERS_CREATED,
        USERS_UPDATED,
        USERS_DELETED,
        MEDIA_VIDEO_UPLOADED,
        TIMELINES_FANOUT_PART,
    )
}


def decode(subject: str, data: bytes) -> Event:
    """The event a message published on ``subject`` holds: ``KeyError`` for a subject not in
    the catalogue, ``DecodeError`` for bytes that are no such event."""
    event: Event = CATALOGUE[subject].decode(data)
    return event
