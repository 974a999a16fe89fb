"""The parts of large fanouts, on JetStream: ``timelines.fanout_part`` events that every
timelines process takes from the durable consumer ``timelines-fanout-parts``, one at a time
(``consumers/fanout.py``). Each part is stored by the stream before ``share`` returns, and the
fanout's own message is acknowledged only after every part was, so a crash loses no part; a
fanout redelivered shares its parts again, and pushing a part twice changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from chirp.events.v1 import timeline_events_pb2

from services.platform.consumers import Publisher
from services.platform.outbox import new_event_id
from services.platform.subjects import TIMELINES_FANOUT_PART


class JetStreamFanoutParts:
    def __init__(self, publisher: Publisher, pool: str) -> None:
        """``pool`` is the durable consumer of the fanouts these parts come from: only its
        workers push them."""
        self._publisher = publisher
        self._pool = pool

    async def share(self, tweet_id: int, author_id: int, follower_ids: Sequence[int]) -> None:
        event = timeline_events_pb2.FanoutPartEvent(
            event_id=new_event_id(),
            pool=self._pool,
            tweet_id=tweet_id,
            author_id=author_id,
            follower_ids=follower_ids,
        )
        jetstream = await self._publisher.jetstream()
        await jetstream.publish(
            TIMELINES_FANOUT_PART.name,
            event.SerializeToString(),
            headers={"Nats-Msg-Id": event.event_id},
        )
