"""Reading users events back from the real JetStream stream, for the users tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from chirp.events.v1 import user_events_pb2
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.platform.consumers import connect
from services.platform.events import STREAM
from services.platform.settings import StoreSettings

Event = TypeVar("Event", user_events_pb2.UserCreatedEvent, user_events_pb2.UserUpdatedEvent)


async def find_event(
    subject: str,
    since: datetime,
    event_type: type[Event],
    matches: Callable[[Event], bool],
    timeout_seconds: float = 10.0,
) -> Event:
    """The first event on ``subject`` stored after ``since`` that ``matches``.

    Reads through a temporary consumer (deleted afterwards) that starts at ``since``, so it
    sees the event whether the relay published it before or after the call.
    """
    connection = await connect(StoreSettings().nats_url)
    jetstream = connection.jetstream()
    stream = STREAM.name or ""
    name = f"test-users-{uuid.uuid4().hex[:12]}"
    await jetstream.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=name,
            filter_subject=subject,
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60,
        ),
    )
    try:
        subscription = await jetstream.pull_subscribe_bind(name, stream=stream)
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            try:
                messages = await subscription.fetch(100, timeout=1)
            except TimeoutError:
                continue
            for message in messages:
                event = event_type.FromString(message.data)
                if matches(event):
                    return event
        raise AssertionError(f"no matching {subject} event within {timeout_seconds} s")
    finally:
        await jetstream.delete_consumer(stream, name)
        await connection.close()
