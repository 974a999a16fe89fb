"""The tweets.* events, watched on the real stream through tests/integration/streams.py."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from chirp.events.v1 import tweet_events_pb2
from google.protobuf.message import Message

from tests.integration import streams
from tests.integration.streams import Received

MESSAGE_TYPES: dict[str, type[Message]] = {
    "tweets.created": tweet_events_pb2.TweetCreatedEvent,
    "tweets.edited": tweet_events_pb2.TweetEditedEvent,
    "tweets.deleted": tweet_events_pb2.TweetDeletedEvent,
    "tweets.liked": tweet_events_pb2.TweetLikedEvent,
    "tweets.unliked": tweet_events_pb2.TweetUnlikedEvent,
    "tweets.retweeted": tweet_events_pb2.TweetRetweetedEvent,
    "tweets.unretweeted": tweet_events_pb2.TweetUnretweetedEvent,
}


async def create_consumer() -> str:
    """A new durable consumer of every tweets.* subject, from now on; returns its name."""
    return await streams.create_consumer(MESSAGE_TYPES, "tweets")


async def delete_consumer(name: str) -> None:
    await streams.delete_consumer(name)


def receiving(name: str) -> AbstractAsyncContextManager[Received]:
    return streams.receiving(name, MESSAGE_TYPES)


def watching() -> AbstractAsyncContextManager[Received]:
    """Every tweets.* event published from now on, through a consumer deleted afterwards."""
    return streams.watching(MESSAGE_TYPES, "tweets")
