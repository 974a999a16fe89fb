"""The deleted-accounts consumer erases an account once its deletion has had its grace."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import cast

from chirp.events.v1 import user_events_pb2

from services.tweets.consumers.accounts import DeletedAccountsErasure
from services.tweets.service import TweetService


class Erasures:
    """Stands in for the service: which accounts were erased, when, as deleted when."""

    def __init__(self) -> None:
        self.at: dict[int, tuple[float, datetime]] = {}

    async def erase_account(self, user_id: int, deleted_at: datetime) -> None:
        self.at[user_id] = (time.monotonic(), deleted_at)


def _deleted(user_id: int, ago: timedelta) -> user_events_pb2.UserDeletedEvent:
    event = user_events_pb2.UserDeletedEvent(user_id=user_id, username=f"u{user_id}")
    event.occur_time.FromDatetime(datetime.now(UTC) - ago)
    return event


async def test_a_fresh_deletion_is_erased_after_its_grace_an_old_one_at_once() -> None:
    erasures = Erasures()
    consumer = DeletedAccountsErasure(
        "nats://unused", cast("TweetService", erasures), grace_seconds=0.4
    )
    events = [
        _deleted(1, timedelta(0)),
        _deleted(2, timedelta(seconds=0.3)),
        _deleted(3, timedelta(minutes=5)),
    ]
    started = time.monotonic()
    answers = await asyncio.gather(*(consumer.erase(event) for event in events))
    assert list(answers) == [True, True, True]
    assert {user_id: at for user_id, (_, at) in erasures.at.items()} == {
        event.user_id: event.occur_time.ToDatetime(UTC) for event in events
    }
    assert erasures.at[1][0] - started >= 0.39
    assert 0.05 <= erasures.at[2][0] - started < 0.3
    assert erasures.at[3][0] - started < 0.05


async def test_an_event_without_an_account_erases_nothing() -> None:
    erasures = Erasures()
    consumer = DeletedAccountsErasure("nats://unused", cast("TweetService", erasures), 0)
    assert await consumer.erase(_deleted(0, timedelta(0)))
    assert erasures.at == {}
