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

import structlog
from chirp.events.v1 import tweet_events_pb2
from nats.aio.msg import Msg

from services.bootstrap.consumers import DurableConsumer, one_at_a_time
from services.bootstrap.events import consumer
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
        """Consumes ``tweets.deleted`` until cancelled."""
        await DurableConsumer(
            self._nats_url, CONSUMER, one_at_a_time(self._handle), batch_size=self._batch_size
        ).run()

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
