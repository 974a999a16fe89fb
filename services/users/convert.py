"""Accounts as ``chirp.users.v1.User`` messages: for responses, events and the user cache; and
messages as the API's JSON, for archives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chirp.users.v1 import user_pb2
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.users.model import Profile, User


def timestamp(moment: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(moment)
    return message


def basic(user: User) -> user_pb2.User:
    return user_pb2.User(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        create_time=timestamp(user.create_time),
    )


def full(profile: Profile) -> user_pb2.User:
    message = basic(profile.user)
    message.follower_count = profile.counts.follower_count
    message.following_count = profile.counts.following_count
    message.tweet_count = profile.counts.tweet_count
    if profile.relationship is not None:
        message.caller_follows = profile.relationship.caller_follows
        message.follows_caller = profile.relationship.follows_caller
    return message


def from_basic(message: user_pb2.User, update_time: datetime) -> User:
    """The inverse of ``basic``; the message does not carry ``update_time``."""
    return User(
        id=message.id,
        username=message.username,
        display_name=message.display_name,
        bio=message.bio,
        create_time=message.create_time.ToDatetime(tzinfo=update_time.tzinfo),
        update_time=update_time,
    )


def json_of(message: Message) -> dict[str, Any]:
    """``message`` in the API's JSON (proto3 JSON, as the gateway renders it)."""
    return dict(json_format.MessageToDict(message))
