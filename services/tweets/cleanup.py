"""What a delete leaves for later: the deleted tweet's retweets, undone from its event.

A deleted tweet is gone for readers at once, and so are its retweets (a retweet is shown only
with its original). Undoing the retweets themselves (out of their authors' timelines and
tweet counts, ``tweets.unretweeted`` for the home timelines) can take one step per retweet, so
it runs here, from ``tweets.deleted`` on the durable consumer ``tweets-cleanup``, which this
service binds to when it starts (it keeps its position across restarts). A message is
acknowledged once its tweet is purged; a failure, or a tweet not yet marked deleted, is
redelivered a few seconds later.
"""

from __future__ import annotations

import asyncio

import nats
import structlog
from chirp.events.v1 import tweet_events_pb2
from nats.aio.msg import Msg

from services.bootstrap.events import STREAM, consumer
from services.tweets.service import TweetService

CONSUMER = consumer("tweets-cleanup")
RETRY_DELAY_SECONDS = 2.0

log = structlog.get_logger()


class DeletedTweetsCleanup:
    def __init__(self, nats_url: str, tweets: TweetService, batch_size: int = 20) -> None:
        self._nats_url = nats_url
        self._tweets = tweets
        self._batch_size = batch_size

    async def run(self) -> None:
        """Consumes until cancelled, reconnecting (with backoff) whenever NATS goes away."""
        backoff = 0.5
        while True:
            try:
                await self._consume()
            except Exception:
                log.warning("deleted-tweet cleanup cannot consume yet; retrying", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _consume(self) -> None:
        connection = await nats.connect(
            self._nats_url, connect_timeout=2, max_reconnect_attempts=-1, reconnect_time_wait=1
        )
        try:
            jetstream = connection.jetstream(timeout=5)
            stream = STREAM.name or ""
            await jetstream.add_consumer(stream, CONSUMER)
            subscription = await jetstream.pull_subscribe_bind(
                CONSUMER.durable_name or "", stream=stream
            )
            while True:
                try:
                    messages = await subscription.fetch(self._batch_size, timeout=5)
                except TimeoutError:
                    continue
                for message in messages:
                    await self._handle(message)
        finally:
            await connection.close()

    async def _handle(self, message: Msg) -> None:
        event = tweet_events_pb2.TweetDeletedEvent.FromString(message.data)
        try:
            purged = await self._tweets.purge(event.tweet_id)
        except Exception:
            log.warning("purging a deleted tweet failed", tweet_id=event.tweet_id, exc_info=True)
            purged = False
        if purged:
            await message.ack()
        else:
            await message.nak(delay=RETRY_DELAY_SECONDS)
