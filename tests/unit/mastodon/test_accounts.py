"""The ``mastodon-accounts`` consumer: a deleted account's OAuth state erased once the delete has
had its grace."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from chirp.events.v1 import user_events_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from services.mastodon.consumers.accounts import DeletedAccounts
from services.mastodon.model import Token
from services.mastodon.service import OAuthService
from services.platform.subjects import USERS_DELETED
from tests.unit.mastodon.fakes import MemoryAccounts, MemoryOAuthStore

GRACE = 0.3


def _deleted(user_id: int, ago: timedelta) -> user_events_pb2.UserDeletedEvent:
    occur_time = Timestamp()
    occur_time.FromDatetime(datetime.now(UTC) - ago)
    return USERS_DELETED.type(user_id=user_id, occur_time=occur_time)


async def test_an_erasure_waits_until_the_delete_is_a_grace_old() -> None:
    now = datetime.now(UTC)
    store = MemoryOAuthStore()
    consumer = DeletedAccounts(
        "nats://unused", OAuthService(store, MemoryAccounts(now)), grace_seconds=GRACE
    )
    for user_id, ago, waited in ((4, timedelta(0), GRACE), (5, timedelta(minutes=1), 0.0)):
        await store.add_token(f"token-of-{user_id}", Token("app", user_id, frozenset(), now))
        start = time.monotonic()
        assert await consumer.erase(_deleted(user_id, ago))
        assert waited * 0.8 <= time.monotonic() - start < waited + 0.2
        assert store.tokens == {}
