"""What a batch of events touches, as the indexer reads it (``changes_of``)."""

from __future__ import annotations

from chirp.events.v1 import graph_events_pb2, media_events_pb2, tweet_events_pb2, user_events_pb2
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2

from services.platform.subjects import Event
from services.search.consumers.indexer import changes_of
from services.search.model import Changes


def test_each_event_names_what_to_read_again() -> None:
    reply = tweet_pb2.Tweet(id=11, reply_to_id=10)
    events: list[Event] = [
        tweet_events_pb2.TweetCreatedEvent(tweet=reply),
        tweet_events_pb2.TweetEditedEvent(tweet=tweet_pb2.Tweet(id=12)),
        tweet_events_pb2.TweetDeletedEvent(tweet_id=13, reply_to_id=14),
        tweet_events_pb2.TweetLikedEvent(tweet_id=15),
        tweet_events_pb2.TweetUnretweetedEvent(tweet_id=16),
        user_events_pb2.UserUpdatedEvent(user=user_pb2.User(id=7)),
        graph_events_pb2.UserFollowedEvent(followee_id=8),
        user_events_pb2.UserDeletedEvent(user_id=9, username="Gone"),
    ]
    assert changes_of(events) == Changes(
        tweets={10, 11, 12, 14, 15, 16},
        deleted_tweets={13},
        users={7, 8},
        deleted_users={9: "Gone"},
    )


def test_events_the_indexes_do_not_hold_change_nothing() -> None:
    events: list[Event] = [
        media_events_pb2.VideoUploadedEvent(media_id=4),
        tweet_events_pb2.TweetLikedEvent(tweet_id=5),
    ]
    assert changes_of(events) == Changes(tweets={5})
