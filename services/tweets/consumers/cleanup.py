"""What a delete leaves for later: the deleted tweet's retweets, undone from its event.

A deleted tweet is gone for readers at once, and so are its retweets (a retweet is shown only
with its original). Undoing the retweets themselves (out of their authors' timelines and
tweet counts, ``tweets.unretweeted`` for the home timelines) can take one step per retweet, so
it runs here, from ``tweets.deleted`` on the durable consumer ``tweets-cleanup``, which this
service binds to when it starts (it keeps its position across restarts). It also finishes a
delete that stopped between its batch and marking the tweet deleted (a crash, a timeout): the
event is only ever written by that batch. A message is acknowledged once its tweet is purged; a
failure is redelivered later by the platform's policy (``services/platform/consumers.py``).
"""

from __future__ import annotations

from datetime import UTC

from chirp.events.v1 import tweet_events_pb2

from services.platform.consumers import DurableConsumer, Settle, each_event
from services.platform.events import consumer
from services.platform.subjects import TWEETS_DELETED
from services.tweets.service import TweetService

CONSUMER = consumer("tweets-cleanup")


class DeletedTweetsCleanup:
    def __init__(self, nats_url: str, tweets: TweetService, batch_size: int = 20) -> None:
        self._nats_url = nats_url
        self._tweets = tweets
        self._batch_size = batch_size

    async def run(self) -> None:
        """Consumes ``tweets.deleted`` until cancelled."""
        handle = each_event(Settle(CONSUMER), TWEETS_DELETED, self._purge)
        await DurableConsumer(self._nats_url, CONSUMER, handle, batch_size=self._batch_size).run()

    async def _purge(self, event: tweet_events_pb2.TweetDeletedEvent) -> bool:
        await self._tweets.purge(event.tweet_id, event.occur_time.ToDatetime(UTC))
        return True
