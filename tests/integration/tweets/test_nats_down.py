"""A post acknowledged while NATS is down keeps its event in the outbox, and the event reaches
the stream once NATS is back.

The test stops the real NATS server of the local stack and always starts it again.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx
from cassandra.cluster import Session
from chirp.events.v1.tweet_events_pb2 import TweetCreatedEvent

from devstack.paths import PYTHON, ROOT
from tests.integration.tweets.events import create_consumer, delete_consumer, receiving
from tests.integration.tweets.tokens import bearer, random_user_id
from tests.stack import GATEWAY

#: Longer than the relay's publish timeout, so the relay fails and retries meanwhile.
DOWN_SECONDS = 7.0
BACK_WITHIN_SECONDS = 15.0


def _devstack(verb: str) -> None:
    subprocess.run(
        [str(PYTHON), "-m", "devstack", verb, "nats"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )


def _in_outbox(session: Session, tweet_id: int) -> bool:
    partitions = session.execute("SELECT bucket, writer FROM outbox_partitions WHERE registry = 0")
    return any(
        row.subject == "tweets.created"
        and TweetCreatedEvent.FromString(row.payload).tweet.id == tweet_id
        for partition in partitions
        for row in session.execute(
            "SELECT subject, payload FROM outbox_events WHERE writer = %s AND bucket = %s",
            (partition.writer, partition.bucket),
        )
    )


async def test_a_post_made_while_nats_is_down_reaches_the_stream_when_it_is_back(
    session: Session,
) -> None:
    consumer = await create_consumer()  # durable: it outlives the restart
    try:
        await asyncio.to_thread(_devstack, "stop")
        async with httpx.AsyncClient(base_url=GATEWAY, timeout=15) as http:
            response = await http.post(
                "/v1/tweets",
                json={"text": "posted while NATS is down"},
                headers=bearer(random_user_id()),
            )
        assert response.status_code == 200, response.text
        tweet_id = int(response.json()["id"])
        assert _in_outbox(session, tweet_id)
        await asyncio.sleep(DOWN_SECONDS)
        assert _in_outbox(session, tweet_id)  # still held: nothing acknowledged it

        await asyncio.to_thread(_devstack, "start")
        back = time.monotonic()
        async with receiving(consumer) as received:
            (event,) = await received.wait_for(TweetCreatedEvent, lambda e: e.tweet.id == tweet_id)
        assert time.monotonic() - back < BACK_WITHIN_SECONDS
        assert event.tweet.text == "posted while NATS is down"
    finally:
        await asyncio.to_thread(_devstack, "start")  # "already running" when it is
        await delete_consumer(consumer)
