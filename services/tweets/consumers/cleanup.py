"""What a delete leaves for later: the deleted tweet's retweets, undone from its event.

A deleted tweet is gone for readers at once, and so are its retweets (a retweet is shown only
with its original). Undoing the retweets themselves (out of their authors' timelines and
tweet counts, ``tweets.unretweeted`` for the home timelines) can take one step per retweet, so
it runs here, from ``tweets.deleted`` on the durable consumer ``tweets-cleanup``, which this
service binds to when it starts (it keeps its position across restarts). It also finishes a
delete that stopped between its batch and marking the tweet deleted (a crash, a timeout): the
event is only ever written by that batch. A message is acknowledged once its tweet is purged; a
failure is redelivered later by the platform's policy (``services/platform/consumers.py``).

A purge starts ``GRACE_SECONDS`` after the delete at the earliest. The delete marks the tweet
deleted and uncounts it itself, once (whoever marks it uncounts it); a purge that marked it
first would leave the delete answering before the author's tweet count dropped, and the
profile read next showing the old count. In the grace the delete has done its part, unless it
stopped: that is what is left here.
"""

from __future__ import annotations

from datetime import UTC

from chirp.events.v1 import tweet_events_pb2

from services.platform.consumers import DurableConsumer, Settle, each_event, until_aged
from services.platform.events import consumer
from services.platform.subjects import TWEETS_DELETED
from services.tweets.service import TweetService

CONSUMER = consumer("tweets-cleanup")
#: How long after a delete its purge may start (see the module docstring).
GRACE_SECONDS = 2.0


class DeletedTweetsCleanup:
    def __init__(
        self,
        nats_url: str,
        tweets: TweetService,
        batch_size: int = 20,
        grace_seconds: float = GRACE_SECONDS,
    ) -> None:
        self._nats_url = nats_url
        self._tweets = tweets
        self._batch_size = batch_size
        self._grace_seconds = grace_seconds

    async def run(self) -> None:
        """Consumes ``tweets.deleted`` until cancelled."""
        handle = each_event(Settle(CONSUMER), TWEETS_DELETED, self.purge)
        await DurableConsumer(self._nats_url, CONSUMER, handle, batch_size=self._batch_size).run()

    async def purge(self, event: tweet_events_pb2.TweetDeletedEvent) -> bool:
        """Purges the deleted tweet once its delete has had its grace."""
        deleted_at = event.occur_time.ToDatetime(UTC)
        await until_aged(event.occur_time, self._grace_seconds)
        await self._tweets.purge(event.tweet_id, deleted_at)
        return True
