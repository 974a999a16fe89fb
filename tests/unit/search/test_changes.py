"""What a batch of events touches, as the indexer reads it off the wire (``changes_of``)."""

from __future__ import annotations

from chirp.events.v1 import graph_events_pb2, tweet_events_pb2, user_events_pb2
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2
from google.protobuf.message import Message
from nats.aio.msg import Msg

from services.search.consumers.indexer import changes_of
from services.search.model import Changes


def _message(subject: str, event: Message | bytes) -> Msg:
    """A message as fetched, with no client behind it: never acknowledged here."""
    data = event if isinstance(event, bytes) else event.SerializeToString()
    return Msg(None, subject=subject, data=data)  # type: ignore[arg-type]


def test_each_subject_names_what_to_read_again() -> None:
    reply = tweet_pb2.Tweet(id=11, reply_to_id=10)
    messages = [
        _message("tweets.created", tweet_events_pb2.TweetCreatedEvent(tweet=reply)),
        _message("tweets.edited", tweet_events_pb2.TweetEditedEvent(tweet=tweet_pb2.Tweet(id=12))),
        _message("tweets.deleted", tweet_events_pb2.TweetDeletedEvent(tweet_id=13, reply_to_id=14)),
        _message("tweets.liked", tweet_events_pb2.TweetLikedEvent(tweet_id=15)),
        _message("tweets.unretweeted", tweet_events_pb2.TweetRetweetedEvent(tweet_id=16)),
        _message("users.updated", user_events_pb2.UserUpdatedEvent(user=user_pb2.User(id=7))),
        _message("graph.followed", graph_events_pb2.UserFollowedEvent(followee_id=8)),
    ]
    assert changes_of(messages) == Changes(
        tweets={10, 11, 12, 14, 15, 16}, deleted_tweets={13}, users={7, 8}
    )


def test_unknown_subjects_and_unreadable_events_change_nothing() -> None:
    messages = [
        _message("tweets.created", b"\xff\xff not a message"),
        _message("media.uploaded", b""),
        _message("tweets.liked", tweet_events_pb2.TweetLikedEvent(tweet_id=5)),
    ]
    assert changes_of(messages) == Changes(tweets={5})
