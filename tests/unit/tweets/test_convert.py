"""Domain objects to messages and back: the cache's shallow views, and events' subjects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chirp.events.v1 import tweet_events_pb2
from google.protobuf.message import Message

from services.platform.ids import compose, wall_clock_ms
from services.tweets.convert import event_message, shallow_view_of, tweet_message
from services.tweets.model import (
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
)
from services.tweets.text import Entities, Hashtag, Link, Mention

NOW = datetime(2026, 11, 21, 9, 0, 0, 123000, tzinfo=UTC)
TWEET_ID = compose(wall_clock_ms(), 3, 1)
AUTHOR = Author(7, "ada", "Ada", "bio", NOW)


def test_a_view_survives_the_cache_round_trip() -> None:
    tweet = Tweet(
        id=TWEET_ID,
        author_id=7,
        text="hi #x @bob https://a.example",
        entities=Entities(
            (Hashtag(3, 5, "x"),), (Mention(6, 10, "bob", 9),), (Link(11, 28, "https://a.example"),)
        ),
        reply_to_id=5,
        edit_time=NOW,
    )
    view = TweetView(tweet, AUTHOR, Counts(1, 2, 3))
    assert shallow_view_of(tweet_message(view)) == view


def test_a_retweet_is_cached_with_its_originals_id_only() -> None:
    original = TweetView(Tweet(id=TWEET_ID, author_id=7, text="original"), AUTHOR, Counts(5))
    retweet = TweetView(Tweet(id=TWEET_ID + 1, author_id=8, retweet_of_id=TWEET_ID), Author(8))
    full = tweet_message(TweetView(retweet.tweet, retweet.author, retweet_of=original))
    assert full.retweet_of.text == "original"
    assert full.retweet_of.like_count == 5
    shallow = tweet_message(retweet)
    assert shallow.retweet_of.id == TWEET_ID
    assert shallow.retweet_of.text == ""
    assert shallow_view_of(shallow) == retweet


VIEW = TweetView(Tweet(id=TWEET_ID, author_id=7, text="t"), AUTHOR)


@pytest.mark.parametrize(
    ("event", "subject", "message_type"),
    [
        (TweetCreated("e", NOW, VIEW), "tweets.created", tweet_events_pb2.TweetCreatedEvent),
        (TweetEdited("e", NOW, VIEW), "tweets.edited", tweet_events_pb2.TweetEditedEvent),
        (
            TweetDeleted("e", NOW, TWEET_ID, 7, 0),
            "tweets.deleted",
            tweet_events_pb2.TweetDeletedEvent,
        ),
        (TweetLiked("e", NOW, TWEET_ID, 7, 8, 1), "tweets.liked", tweet_events_pb2.TweetLikedEvent),
        (
            TweetUnliked("e", NOW, TWEET_ID, 7, 8, 0),
            "tweets.unliked",
            tweet_events_pb2.TweetUnlikedEvent,
        ),
        (
            TweetRetweeted("e", NOW, TWEET_ID + 1, TWEET_ID, 7, 8, 1),
            "tweets.retweeted",
            tweet_events_pb2.TweetRetweetedEvent,
        ),
        (
            TweetUnretweeted("e", NOW, TWEET_ID + 1, TWEET_ID, 7, 8, 0),
            "tweets.unretweeted",
            tweet_events_pb2.TweetUnretweetedEvent,
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_every_event_has_its_subject_and_message(
    event: Event, subject: str, message_type: type[Message]
) -> None:
    got_subject, message = event_message(event)
    assert got_subject.name == subject
    assert isinstance(message, message_type)
    assert message.event_id == "e"
    parsed = message_type.FromString(message.SerializeToString())
    assert parsed == message
    assert getattr(parsed, "occur_time").ToDatetime(tzinfo=UTC) == NOW  # noqa: B009
