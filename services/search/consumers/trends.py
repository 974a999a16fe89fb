"""The trends worker: the durable JetStream consumer ``search-trends`` (``tweets.created``),
and the loop that recomputes the published trends every ``recompute_seconds``.

A batch of new tweets is counted in Redis in one pipeline and acknowledged after it (a failure
is redelivered later, as ``services/platform/consumers.py`` says); counting is idempotent (see
``adapters/trend_store.py``), so redeliveries change nothing. Each replica runs the loop, and a
short Redis claim lets one of them recompute per interval.
"""

from __future__ import annotations

import structlog
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from services.platform.background import in_background, pause, rounds
from services.platform.consumers import DurableConsumer, Settle
from services.platform.events import consumer
from services.platform.subjects import TWEETS_CREATED
from services.search.trends import TrendService, TrendStore

CONSUMER = consumer("search-trends")

log = structlog.get_logger()


class TrendsWorker:
    def __init__(
        self,
        nats_url: str,
        trends: TrendService,
        store: TrendStore,
        *,
        recompute_seconds: float,
        config: ConsumerConfig = CONSUMER,
    ) -> None:
        self._nats_url = nats_url
        self._trends = trends
        self._store = store
        self._recompute_seconds = recompute_seconds
        self._config = config
        self._settle = Settle(config)

    async def run(self) -> None:
        async with in_background(self._recompute_loop):
            await DurableConsumer(self._nats_url, self._config, self._handle, batch_size=200).run()

    async def _handle(self, messages: list[Msg]) -> None:
        counted: list[Msg] = []
        tweets = []
        for message in messages:
            created = await self._settle.decoded(message, TWEETS_CREATED)
            if created is None:
                continue
            tweet = created.tweet
            counted.append(message)
            tweets.append(
                (
                    tweet.id,
                    tweet.author.id,
                    tweet.create_time.ToNanoseconds() / 1e9,
                    tweet.text,
                    [h.tag for h in tweet.entities.hashtags],
                )
            )
        try:
            with self._settle.kept_alive(counted):
                await self._trends.record(tweets)
        except Exception as error:
            await self._settle.failed(counted, error)
            return
        await self._settle.done(counted)

    async def _recompute_loop(self) -> None:
        for _ in rounds():
            try:
                if await self._store.claim(self._recompute_seconds * 0.9):
                    await self._trends.recompute()
            except Exception:
                log.warning("recomputing trends failed; retrying", exc_info=True)
            await pause(self._recompute_seconds)
