"""The tweets domain: stored tweets, what readers see of them, their history, and the events
their writes publish. Plain data; nothing here knows gRPC, CQL or Redis."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.platform.ids import timestamp_ms
from services.tweets.text import Entities


def created_at(snowflake: int) -> datetime:
    """A Snowflake id carries its creation time; a tweet's create_time is exactly that."""
    return datetime.fromtimestamp(timestamp_ms(snowflake) / 1000, tz=UTC)


@dataclass(frozen=True)
class Author:
    """A user in the BASIC view. Only ``id`` is set when the users service could not say more."""

    id: int
    username: str = ""
    display_name: str = ""
    bio: str = ""
    create_time: datetime | None = None


@dataclass(frozen=True)
class Tweet:
    """A tweet, reply or retweet as stored. A retweet has ``retweet_of_id`` and no text."""

    id: int
    author_id: int
    text: str = ""
    entities: Entities = field(default_factory=Entities)
    reply_to_id: int = 0
    retweet_of_id: int = 0
    media_ids: tuple[int, ...] = ()
    edit_time: datetime | None = None
    deleted: bool = False

    @property
    def create_time(self) -> datetime:
        return created_at(self.id)

    @property
    def is_retweet(self) -> bool:
        return self.retweet_of_id != 0

    @property
    def version_start(self) -> datetime:
        """When the current text was written."""
        return self.edit_time or self.create_time


@dataclass(frozen=True)
class Attachment:
    """A photo or video a tweet carries, as the media service describes it (never changes once
    attached). Only ``id`` is set when the media service could not say more. ``kind`` and
    ``state`` are ``chirp.media.v1.Media``'s enum values, passed on as they are."""

    id: int
    owner_id: int = 0
    url: str = ""
    thumbnail_url: str = ""
    content_type: str = ""
    width: int = 0
    height: int = 0
    size_bytes: int = 0
    alt_text: str = ""
    tweet_id: int = 0
    create_time: datetime | None = None
    kind: int = 0
    state: int = 0
    duration_ms: int = 0


@dataclass(frozen=True)
class Counts:
    likes: int = 0
    retweets: int = 0
    replies: int = 0


@dataclass(frozen=True)
class TweetView:
    """A tweet as readers get it: with its author's summary and its counts, and on a retweet
    the original (``None`` in a *shallow* view, as the cache keeps retweets)."""

    tweet: Tweet
    author: Author
    counts: Counts = Counts()
    retweet_of: TweetView | None = None
    #: The tweet's photos or video, in ``tweet.media_ids`` order.
    media: tuple[Attachment, ...] = ()

    @property
    def id(self) -> int:
        return self.tweet.id


@dataclass(frozen=True)
class Version:
    """An earlier text of an edited tweet. Version 1 is the text as first posted."""

    tweet_id: int
    number: int
    text: str
    entities: Entities
    create_time: datetime


@dataclass(frozen=True)
class VersionView:
    version: Version
    replace_time: datetime


# Events: one per subject of chirp.events.v1; ``event_id`` is a time-based UUID string.


@dataclass(frozen=True)
class TweetCreated:
    event_id: str
    occur_time: datetime
    tweet: TweetView


@dataclass(frozen=True)
class TweetEdited:
    event_id: str
    occur_time: datetime
    tweet: TweetView


@dataclass(frozen=True)
class TweetDeleted:
    event_id: str
    occur_time: datetime
    tweet_id: int
    author_id: int
    reply_to_id: int


@dataclass(frozen=True)
class TweetLiked:
    event_id: str
    occur_time: datetime
    tweet_id: int
    tweet_author_id: int
    user_id: int
    like_count: int


@dataclass(frozen=True)
class TweetUnliked:
    event_id: str
    occur_time: datetime
    tweet_id: int
    tweet_author_id: int
    user_id: int
    like_count: int


@dataclass(frozen=True)
class TweetRetweeted:
    event_id: str
    occur_time: datetime
    retweet_id: int
    tweet_id: int
    tweet_author_id: int
    user_id: int
    retweet_count: int


@dataclass(frozen=True)
class TweetUnretweeted:
    event_id: str
    occur_time: datetime
    retweet_id: int
    tweet_id: int
    tweet_author_id: int
    user_id: int
    retweet_count: int


Event = (
    TweetCreated
    | TweetEdited
    | TweetDeleted
    | TweetLiked
    | TweetUnliked
    | TweetRetweeted
    | TweetUnretweeted
)
