"""Deleted accounts lose their OAuth state: ``users.deleted`` consumed on the durable consumer
``mastodon-accounts``.

Every access token and authorization code of the account is removed
(``OAuthService.erase_account``), so an app's token for it answers 401: at once in the process
that erased it, within ``TOKEN_CACHE_SECONDS`` in the others (and the account's Chirp sessions,
which every request here is served with, are refused everywhere within about a second of the
delete). A redelivery, or a second event, finds nothing left and removes nothing.

The erasure starts once the event is ``ERASURE_GRACE_SECONDS`` old: a token issued in the moment of
the delete (a sign-in the users service accepted just before it, a code exchanged just after) is
stored by then and is removed with the rest. A message is settled by the platform's policy
(``services/platform/consumers.py``): acknowledged once everything is removed, redelivered later
while Cassandra fails."""

from __future__ import annotations

from chirp.events.v1 import user_events_pb2

from services.mastodon.service import OAuthService
from services.platform.consumers import (
    ERASURE_GRACE_SECONDS,
    DurableConsumer,
    Settle,
    each_event,
    until_aged,
)
from services.platform.events import consumer
from services.platform.subjects import USERS_DELETED

CONSUMER = consumer("mastodon-accounts")


class DeletedAccounts:
    def __init__(
        self,
        nats_url: str,
        oauth: OAuthService,
        batch_size: int = 20,
        grace_seconds: float = ERASURE_GRACE_SECONDS,
    ) -> None:
        self._nats_url = nats_url
        self._oauth = oauth
        self._batch_size = batch_size
        self._grace_seconds = grace_seconds

    async def run(self) -> None:
        """Consumes ``users.deleted`` until cancelled."""
        handle = each_event(Settle(CONSUMER), USERS_DELETED, self.erase)
        await DurableConsumer(self._nats_url, CONSUMER, handle, batch_size=self._batch_size).run()

    async def erase(self, event: user_events_pb2.UserDeletedEvent) -> bool:
        """Erases the deleted account's OAuth state once its delete has had its grace."""
        await until_aged(event.occur_time, self._grace_seconds)
        if event.user_id > 0:  # an event without an account has nothing to erase
            await self._oauth.erase_account(event.user_id)
        return True
