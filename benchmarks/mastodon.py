"""The home timeline through the Mastodon API next to the same page through Chirp's own JSON
API, in one run: the same reader (the dataset's push reader, 20 followings), 20 statuses a page,
wrk over 32 connections as fast as each answers, through the same gateway, alternating.

The Mastodon side is one more Python hop (the mastodon service calls the timelines service and
turns each tweet into Mastodon's JSON and HTML); the ratio is what that costs.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

from benchmarks import workload
from benchmarks.common import GATEWAY, Options, Row
from benchmarks.dataset import Dataset
from benchmarks.report import Report
from services.mastodon.adapters.store import CassandraOAuthStore
from services.mastodon.model import App, Token
from services.mastodon.service import digest
from services.platform import cql
from services.platform.settings import StoreSettings

GROUP = "Mastodon API"
SCENARIO = "home timeline x20 via the Mastodon API"
BASELINE = "the same page via Chirp's JSON API"
AS_FAST_AS_IT_ANSWERS = 1_000_000  # requests/s: wrk's pacing never waits


async def _oauth_token(user_id: int) -> str:
    """A Mastodon token of ``user_id``, written where the service keeps them (as a login
    would, without knowing the dataset's random passwords)."""
    session = cql.connect(StoreSettings())
    try:
        store = CassandraOAuthStore(session)
        now = datetime.now(UTC)
        client_id = "benchmarks-" + secrets.token_hex(8)
        app = App(
            client_id, "benchmarks", "", ("urn:ietf:wg:oauth:2.0:oob",), frozenset({"read"}), now
        )
        await store.add_app(app, digest(secrets.token_hex(16)))
        token = secrets.token_urlsafe(32)
        await store.add_token(digest(token), Token(client_id, user_id, frozenset({"read"}), now))
        return token
    finally:
        session.cluster.shutdown()


def run(options: Options, data: Dataset, report: Report) -> None:
    reader = data.push_reader
    chirp = f"GET\t/v1/timelines/home?pageSize=20\t{data.token(reader)}\t"
    mastodon = f"GET\t/api/v1/timelines/home?limit=20\t{asyncio.run(_oauth_token(reader[0]))}\t"
    rows = []
    for target, line in (("baseline", chirp), ("mastodon", mastodon)):
        point = workload.run_wrk(GATEWAY, [line], AS_FAST_AS_IT_ANSWERS, options.seconds)
        rows.append(Row(GROUP, SCENARIO, target, point.result, baseline=BASELINE))
        print(f"  {target}: {point.result.rps:.0f}/s {dict(point.statuses)}", flush=True)
    report.add(rows)
