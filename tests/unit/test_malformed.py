"""Which field of a request that does not parse is to blame, from the wire format alone."""

from __future__ import annotations

from typing import Any

import grpc
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2
from google.protobuf.message import Message

from services.platform import malformed

NOT_UTF8 = b"\x00\xff"


def _deserialized(message_type: Any, data: bytes) -> Any:
    async def behaviour(request: Any, _context: Any) -> Any:
        return request

    handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(
        behaviour, request_deserializer=message_type.FromString
    )
    deserialize = malformed.checking(handler).request_deserializer
    assert deserialize is not None
    return deserialize(data)


def _spoil(message: Message, placeholder: str) -> bytes:
    """``message``'s bytes with ``placeholder`` (as long as NOT_UTF8) replaced by NOT_UTF8."""
    return message.SerializeToString().replace(placeholder.encode(), NOT_UTF8)


def test_a_top_level_string_is_named() -> None:
    data = _spoil(tweets_service_pb2.CreateTweetRequest(text="XX", reply_to_id=7), "XX")
    found = _deserialized(tweets_service_pb2.CreateTweetRequest, data)
    assert isinstance(found, malformed.MalformedRequest)
    assert str(found.error) == "text: must be valid UTF-8"


def test_a_nested_string_is_named_by_its_path() -> None:
    request = tweets_service_pb2.UpdateTweetRequest(
        tweet=tweet_pb2.Tweet(
            id=3,
            text="fine",
            entities=tweet_pb2.TweetEntities(hashtags=[tweet_pb2.HashtagEntity(tag="XX")]),
        )
    )
    found = _deserialized(tweets_service_pb2.UpdateTweetRequest, _spoil(request, "XX"))
    assert str(found.error) == "tweet.entities.hashtags.tag: must be valid UTF-8"


def test_bytes_that_are_no_message_name_the_request_type() -> None:
    found = _deserialized(tweets_service_pb2.CreateTweetRequest, b"\x0a\xff\xff\xff")
    assert str(found.error) == (
        "request: is not a valid chirp.tweets.v1.CreateTweetRequest (protobuf wire format)"
    )


def test_a_request_that_parses_is_handed_over_as_it_is() -> None:
    request = tweets_service_pb2.CreateTweetRequest(text="héllo")
    assert _deserialized(tweets_service_pb2.CreateTweetRequest, request.SerializeToString()) == (
        request
    )
