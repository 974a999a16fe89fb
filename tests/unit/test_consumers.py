"""How a per-event consumer settles each message: ack, redeliver later, or drop a poison one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from nats.aio.msg import Msg

from services.platform.consumers import RETRY_DELAY_SECONDS, each_event


@dataclass
class Settled:
    """Stands in for a JetStream message: records how the handler settled it."""

    data: bytes
    subject: str = "tweets.deleted"
    outcome: list[tuple[str, float | None]] = field(default_factory=list)

    async def ack(self) -> None:
        self.outcome.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.outcome.append(("nak", delay))

    async def term(self) -> None:
        self.outcome.append(("term", None))


def _parse(data: bytes) -> int:
    return int(data)


async def _apply(event: int) -> bool:
    if event == 13:
        raise RuntimeError("the store is down")
    return event % 2 == 0


async def test_each_message_is_settled_by_what_became_of_its_event() -> None:
    messages = [Settled(b"2"), Settled(b"3"), Settled(b"13"), Settled(b"not a number")]
    await each_event(_parse, _apply, "testing")(cast("list[Msg]", messages))
    assert [m.outcome for m in messages] == [
        [("ack", None)],  # done
        [("nak", RETRY_DELAY_SECONDS)],  # not yet: redelivered later
        [("nak", RETRY_DELAY_SECONDS)],  # failed: redelivered later
        [("term", None)],  # undecodable: no redelivery could help
    ]
