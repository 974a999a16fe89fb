"""The one policy by which every consumer settles its messages (``services/platform/consumers.py``):
acknowledged once done, redelivered after a delay that grows with the deliveries and stops at a
cap for as long as the handling fails, set aside (terminated, logged, counted) when undecodable,
and kept in progress while a handler runs long."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import cast

from chirp.events.v1 import user_events_pb2
from chirp.users.v1 import user_pb2
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from services.platform.consumers import (
    RETRIES,
    Applies,
    Retries,
    Settle,
    each_event,
    each_event_of,
)
from services.platform.subjects import USERS_CREATED, USERS_DELETED, USERS_UPDATED

CONFIG = ConsumerConfig(durable_name="unit-consumer", ack_wait=60)


@dataclass
class Metadata:
    num_delivered: int


@dataclass
class Delivered:
    """Stands in for a JetStream message: records how it was settled."""

    data: bytes
    subject: str = USERS_CREATED.name
    metadata: Metadata = field(default_factory=lambda: Metadata(1))
    outcome: list[tuple[str, float | None]] = field(default_factory=list)
    marked: int = 0

    async def ack(self) -> None:
        self.outcome.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.outcome.append(("nak", delay))

    async def term(self) -> None:
        self.outcome.append(("term", None))

    async def in_progress(self) -> None:
        self.marked += 1
        if self.marked == 1:  # as a call on a connection NATS dropped: must not stop the next
            raise ConnectionError("NATS away")


def _account(user_id: int) -> bytes:
    return USERS_CREATED.type(user=user_pb2.User(id=user_id)).SerializeToString()


def _msgs(*messages: Delivered) -> list[Msg]:
    return cast("list[Msg]", list(messages))


def _counted(metric: str, subject: str) -> float:
    labels = {"consumer": CONFIG.durable_name or "", "subject": subject}
    return REGISTRY.get_sample_value(metric, labels) or 0.0


async def _apply(event: user_events_pb2.UserCreatedEvent) -> bool:
    """Done for an even id, not yet for an odd one, a dependency down for 13."""
    if event.user.id == 13:
        raise ConnectionError("the store is down")
    return event.user.id % 2 == 0


def test_redelivery_delays_double_from_a_second_up_to_half_a_minute() -> None:
    assert [RETRIES.delay(delivered) for delivered in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]
    # A day of outage is thousands of deliveries: the delay stays at the cap (and finite).
    assert RETRIES.delay(10**6) == 30
    assert Retries(first_seconds=0.01, cap_seconds=0.05).delay(4) == 0.05


async def test_each_message_is_settled_by_what_became_of_its_event() -> None:
    messages = [
        Delivered(_account(2)),
        Delivered(_account(3), metadata=Metadata(3)),
        Delivered(_account(13), metadata=Metadata(7)),
        Delivered(b"\xff\xff not an event"),
    ]
    await each_event(Settle(CONFIG), USERS_CREATED, _apply)(_msgs(*messages))
    assert [m.outcome for m in messages] == [
        [("ack", None)],  # done
        [("nak", 4.0)],  # not yet, at its third delivery: redelivered 4 s later
        [("nak", 30.0)],  # failed at its seventh delivery: redelivered at the cap
        [("term", None)],  # undecodable: no redelivery could help
    ]


async def test_each_subject_s_events_go_to_its_handler_in_stream_order() -> None:
    applied: list[tuple[str, int]] = []

    async def created(event: user_events_pb2.UserCreatedEvent) -> bool:
        applied.append(("created", event.user.id))
        return True

    async def deleted(event: user_events_pb2.UserDeletedEvent) -> bool:
        applied.append(("deleted", event.user_id))
        return True

    gone = USERS_DELETED.type(user_id=5).SerializeToString()
    messages = [
        Delivered(_account(5)),
        Delivered(gone, subject=USERS_DELETED.name),
        Delivered(_account(6), subject=USERS_UPDATED.name),  # no handler takes it
    ]
    handle = each_event_of(
        Settle(CONFIG), Applies(USERS_CREATED, created), Applies(USERS_DELETED, deleted)
    )
    await handle(_msgs(*messages))
    assert applied == [("created", 5), ("deleted", 5)]
    assert [m.outcome for m in messages] == [[("ack", None)], [("ack", None)], [("term", None)]]


async def test_an_undecodable_message_is_set_aside_with_a_log_line_and_a_count() -> None:
    subject = "users.unit_test_undecodable"
    before = _counted("chirp_events_set_aside_total", subject)
    message = Delivered(b"\xff\xff not an event", subject=subject)
    with capture_logs() as logs:
        assert await Settle(CONFIG).decoded(cast("Msg", message), USERS_CREATED) is None
    assert message.outcome == [("term", None)]
    assert _counted("chirp_events_set_aside_total", subject) == before + 1
    (line,) = logs
    assert line["log_level"] == "error"
    assert (line["consumer"], line["subject"]) == ("unit-consumer", subject)


async def test_a_message_is_decoded_as_the_catalogue_types_its_subject() -> None:
    settle = Settle(CONFIG)
    updated = USERS_UPDATED.type(user=user_pb2.User(id=5)).SerializeToString()
    event = await settle.decoded(cast("Msg", Delivered(updated, subject=USERS_UPDATED.name)))
    assert event == user_events_pb2.UserUpdatedEvent(user=user_pb2.User(id=5))
    unknown = Delivered(updated, subject="users.not_in_the_catalogue")
    assert await settle.decoded(cast("Msg", unknown)) is None
    assert unknown.outcome == [("term", None)]


async def test_a_failure_is_redelivered_for_as_long_as_it_lasts_and_never_dropped() -> None:
    """Two hundred deliveries of an event whose store is down (the old policy gave up after
    twenty), each redelivered after its delay, then applied once the store is back."""
    down_for = 200
    outcomes: list[tuple[str, float | None]] = []
    applied: list[int] = []

    async def apply(event: user_events_pb2.UserCreatedEvent) -> bool:
        if len(outcomes) < down_for:
            raise ConnectionError("the store is down")
        applied.append(event.user.id)
        return True

    before = _counted("chirp_events_retried_total", USERS_CREATED.name)
    handle = each_event(Settle(CONFIG), USERS_CREATED, apply)
    with capture_logs() as logs:  # (and not rendered: two hundred tracebacks take seconds)
        for delivered in range(1, down_for + 2):
            message = Delivered(_account(8), metadata=Metadata(delivered))
            await handle(_msgs(message))
            outcomes.extend(message.outcome)
    assert [line["log_level"] for line in logs] == ["warning"] * down_for
    assert outcomes[:down_for] == [("nak", RETRIES.delay(n)) for n in range(1, down_for + 1)]
    assert outcomes[down_for:] == [("ack", None)]
    assert applied == [8]
    assert _counted("chirp_events_retried_total", USERS_CREATED.name) == before + down_for


async def test_a_failed_batch_is_redelivered_each_message_after_its_own_delay() -> None:
    messages = [Delivered(_account(1), metadata=Metadata(n)) for n in (1, 2, 9)]
    settle = Settle(CONFIG)
    await settle.failed(_msgs(*messages), ConnectionError("the store is down"))
    assert [m.outcome for m in messages] == [[("nak", 1.0)], [("nak", 2.0)], [("nak", 30.0)]]


async def test_a_long_handler_keeps_its_messages_in_progress_until_it_ends() -> None:
    """A beat every quarter of the ack wait (10 ms here); the first fails, the next go on."""
    settle = Settle(ConsumerConfig(durable_name="unit-consumer", ack_wait=0.04))
    messages = [Delivered(b""), Delivered(b"")]
    with settle.kept_alive(_msgs(*messages)):
        await asyncio.sleep(0.2)
    marked = [m.marked for m in messages]
    assert min(marked) >= 3
    await asyncio.sleep(0.1)
    assert [m.marked for m in messages] == marked  # nothing after the end


async def test_a_short_handler_is_never_marked_in_progress() -> None:
    settle = Settle(ConsumerConfig(durable_name="unit-consumer", ack_wait=0.2))
    message = Delivered(b"")
    assert await settle.settled(cast("Msg", message), asyncio.sleep(0, result=True))
    await asyncio.sleep(0.1)
    assert message.marked == 0
    assert message.outcome == [("ack", None)]
