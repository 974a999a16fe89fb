"""``media-cleanup``'s handling of a deleted account: its uploads are removed once the deletion
has had its grace, and the event is done only when none is left."""

from __future__ import annotations

import time
from typing import cast

from chirp.events.v1 import user_events_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from services.media.consumers.cleanup import DeletedMedia
from services.media.service import MediaService

GRACE_SECONDS = 0.3


class Owners:
    """Stands in for the media domain: records when each owner's uploads were removed."""

    def __init__(self, *, left_over: bool = False) -> None:
        self.removed_at: dict[int, float] = {}
        self._left_over = left_over

    async def remove_of_owner(self, owner_id: int) -> bool:
        self.removed_at[owner_id] = time.monotonic()
        return not self._left_over


def _deleted(user_id: int, seconds_ago: float) -> user_events_pb2.UserDeletedEvent:
    occur_time = Timestamp()
    occur_time.FromNanoseconds(time.time_ns() - int(seconds_ago * 1e9))
    return user_events_pb2.UserDeletedEvent(user_id=user_id, occur_time=occur_time)


def _cleanup(owners: Owners) -> DeletedMedia:
    return DeletedMedia("nats://unused", cast("MediaService", owners), grace_seconds=GRACE_SECONDS)


async def test_an_account_is_erased_once_its_deletion_is_a_grace_old() -> None:
    owners = Owners()
    cleanup = _cleanup(owners)
    started = time.monotonic()
    assert await cleanup.remove_of_account(_deleted(1, 0))
    assert owners.removed_at[1] - started >= GRACE_SECONDS * 0.9
    started = time.monotonic()
    assert await cleanup.remove_of_account(_deleted(2, 10))  # long past its grace: at once
    assert owners.removed_at[2] - started < GRACE_SECONDS / 2


async def test_an_upload_left_over_leaves_the_event_to_be_redelivered() -> None:
    assert not await _cleanup(Owners(left_over=True)).remove_of_account(_deleted(3, 10))
