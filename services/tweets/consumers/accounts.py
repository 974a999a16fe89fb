"""Deleted accounts: erased from ``users.deleted`` on the durable consumer ``tweets-accounts``.

The users service deletes an account and publishes ``users.deleted``; this service then erases
everything it holds of it (``TweetService.erase_account``: its likes, tweets and retweets undone
with their events and counts, then erased, then its own rows). An erasure takes a few steps per
tweet and like, minutes for a big account: the message is kept alive while it runs
(``Settle.settled``), and messages are fetched one at a time, so that none waits unacknowledged
behind a long erasure until JetStream hands it to another process. A failure is redelivered
later by the platform's policy (``services/platform/consumers.py``) and the erasure resumes from
what is left; a second event for the same account finds nothing and changes nothing.

An erasure starts ``ERASURE_GRACE_SECONDS`` after the deletion at the earliest. The account's tokens
are still accepted for about a second after it, so a post, retweet or like made in that second may
still be landing: its rows must be written before the walk passes where they go, or they would
outlive the erasure. The grace covers that second plus the longest such a write takes (its calls to
the users and media services, then its Cassandra batch)."""

from __future__ import annotations

from datetime import UTC

from chirp.events.v1 import user_events_pb2

from services.platform.consumers import (
    ERASURE_GRACE_SECONDS,
    DurableConsumer,
    Settle,
    each_event,
    until_aged,
)
from services.platform.events import consumer
from services.platform.subjects import USERS_DELETED
from services.tweets.service import TweetService

CONSUMER = consumer("tweets-accounts")


class DeletedAccountsErasure:
    def __init__(
        self, nats_url: str, tweets: TweetService, grace_seconds: float = ERASURE_GRACE_SECONDS
    ) -> None:
        self._nats_url = nats_url
        self._tweets = tweets
        self._grace_seconds = grace_seconds

    async def run(self) -> None:
        """Consumes ``users.deleted`` until cancelled."""
        handle = each_event(Settle(CONSUMER), USERS_DELETED, self.erase)
        await DurableConsumer(self._nats_url, CONSUMER, handle, batch_size=1).run()

    async def erase(self, event: user_events_pb2.UserDeletedEvent) -> bool:
        """Erases the deleted account once its deletion has had its grace."""
        deleted_at = event.occur_time.ToDatetime(UTC)
        await until_aged(event.occur_time, self._grace_seconds)
        if event.user_id > 0:  # an event without an account has nothing to erase
            await self._tweets.erase_account(event.user_id, deleted_at)
        return True
