"""Removing media nobody needs: the media of deleted tweets and of deleted accounts, and uploads
never attached.

``DeletedMedia`` consumes ``tweets.deleted`` and ``users.deleted`` on the durable consumer
``media-cleanup``: it removes a deleted tweet's media, and every upload of a deleted account
(objects, then rows). A message is acknowledged only once they are gone, and a failure is
redelivered later, as the platform's policy says (``services/platform/consumers.py``).
``UnattachedSweep`` runs in every media process: each round removes the uploads older than the
configured age that were never attached (24 hours by default). All are idempotent, so several
processes, a retry or a redelivery change nothing more.

An account's uploads are removed ``ERASURE_GRACE_SECONDS`` after its deletion at the earliest: its
tokens are still accepted for about a second, and an upload begun in that second must have its
rows written before the erasure reads them. One slower than that (a large video on a slow
link) is never attached (the account can no longer post) and goes with the unattached sweep.
"""

from __future__ import annotations

import structlog
from chirp.events.v1 import tweet_events_pb2, user_events_pb2

from services.media.service import MediaService
from services.platform.background import pause, rounds
from services.platform.consumers import (
    ERASURE_GRACE_SECONDS,
    Applies,
    DurableConsumer,
    Settle,
    each_event_of,
    until_aged,
)
from services.platform.events import consumer
from services.platform.subjects import TWEETS_DELETED, USERS_DELETED

CONSUMER = consumer("media-cleanup")

log = structlog.get_logger()


class DeletedMedia:
    def __init__(
        self,
        nats_url: str,
        media: MediaService,
        batch_size: int = 20,
        grace_seconds: float = ERASURE_GRACE_SECONDS,
    ) -> None:
        self._nats_url = nats_url
        self._media = media
        self._batch_size = batch_size
        self._grace_seconds = grace_seconds

    async def run(self) -> None:
        """Consumes ``tweets.deleted`` and ``users.deleted`` until cancelled."""
        handle = each_event_of(
            Settle(CONSUMER),
            Applies(TWEETS_DELETED, self.remove_of_tweet),
            Applies(USERS_DELETED, self.remove_of_account),
        )
        await DurableConsumer(self._nats_url, CONSUMER, handle, batch_size=self._batch_size).run()

    async def remove_of_tweet(self, event: tweet_events_pb2.TweetDeletedEvent) -> bool:
        await self._media.remove_of_tweet(event.tweet_id)
        return True

    async def remove_of_account(self, event: user_events_pb2.UserDeletedEvent) -> bool:
        """Removes the account's uploads once its deletion has had its grace; False (redelivered
        later) if one was attached meanwhile."""
        await until_aged(event.occur_time, self._grace_seconds)
        return await self._media.remove_of_owner(event.user_id)


class UnattachedSweep:
    def __init__(self, media: MediaService, max_age_seconds: float, every_seconds: float) -> None:
        self._media = media
        self._max_age_seconds = max_age_seconds
        self._every_seconds = every_seconds

    async def run(self) -> None:
        """Sweeps every ``every_seconds`` until cancelled; a failed round is retried next time."""
        for _ in rounds():
            try:
                removed = await self._media.sweep(self._max_age_seconds)
                if removed:
                    log.info("unattached media removed", count=removed)
            except Exception:
                log.warning("sweeping unattached media failed", exc_info=True)
            await pause(self._every_seconds)
