"""Messages assembled from serialized parts are the messages protobuf itself would send."""

from __future__ import annotations

import pytest
from chirp.timelines.v1 import timelines_service_pb2
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2
from chirp.users.v1 import user_pb2

from services.platform import wire
from services.platform.caches.tweet_cache import RETWEET_OF_FIELD

SERVICE = tweets_service_pb2.DESCRIPTOR.services_by_name["TweetsService"]


def _tweet(tweet_id: int, text: str = "") -> tweet_pb2.Tweet:
    return tweet_pb2.Tweet(id=tweet_id, text=text, author=user_pb2.User(id=7, username="ada"))


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**21, 2**63 - 1])
def test_varints_are_protobufs(value: int) -> None:
    expected = tweet_pb2.Tweet(id=value).SerializeToString()[1:] if value else b"\x00"
    assert wire.varint(value) == expected


def test_a_page_of_serialized_tweets_is_the_response_protobuf_builds() -> None:
    tweets = [_tweet(1, "one"), _tweet(2, "x" * 300), _tweet(3)]
    cursor = "page-2"
    built = timelines_service_pb2.ListHomeTimelineResponse(tweets=tweets, next_page_token=cursor)
    assembled = wire.repeated(1, (t.SerializeToString() for t in tweets)) + wire.text(2, cursor)
    assert assembled == built.SerializeToString()
    assert wire.text(2, "") == b""


def test_a_retweet_is_its_shallow_entry_with_its_original_in_place() -> None:
    original = _tweet(10, "the original")
    shallow = _tweet(11)
    shallow.retweet_of.id = 10
    shallow.like_count = 3  # a field after retweet_of
    spliced = wire.with_field(
        shallow.SerializeToString(), RETWEET_OF_FIELD, original.SerializeToString()
    )
    full = _tweet(11)
    full.like_count = 3
    full.retweet_of.CopyFrom(original)
    # Byte for byte what protobuf sends: retweet_of once, in its place (Envoy's transcoder
    # refuses a singular field given twice, which parsers would merge).
    assert spliced == full.SerializeToString()


def test_a_servicer_missing_a_method_fails_at_start_up() -> None:
    class Partial:
        async def GetTweet(self) -> bytes:
            return b""

    with pytest.raises(ValueError, match=r"not implemented \[.*'BatchGetTweets'"):
        wire.bytes_handler(SERVICE, Partial(), {"GetTweet"})
