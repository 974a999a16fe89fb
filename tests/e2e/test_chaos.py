"""The stack under chaos: components SIGKILLed in turn while posts, follows and home reads go
through the gateway; the supervisor starts each again. Then every acknowledged post is found
exactly once on its author's timeline, on each follower's home timeline and in search, and every
acknowledged follow is counted.

On the single-node shape every component is killed (each store, each service, the gateway); on
the cluster shape (``make test-cluster``) a Redis master, a NATS server, a Cassandra node and one
process of every service, and the gateway may answer errors for a few seconds per kill at most.

Clients do what a client must: a post is sent with its idempotency key again and again until it
is acknowledged (a 5xx or a dropped connection is retried; anything else fails the test), so an
acknowledged post is the one the client knows of, and an unacknowledged one is never left in
doubt. How long the gateway answered errors after each kill is printed (a one-node store is out
until it is back: what a cluster is for).
"""

from __future__ import annotations

import asyncio
import functools
import operator
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
import redis
from chirp.events.v1 import tweet_events_pb2

from devstack import redis_cluster, supervisor
from devstack.components import COMPONENTS, REPLICAS, SERVICE_PORTS, Component, by_name
from devstack.process import ManagedProcess
from devstack.supervisor import Restarts
from services.platform.consumers import connect
from services.platform.events import STREAM
from services.platform.ids import timestamp_ms
from services.platform.redis_clients import resp_client
from services.platform.settings import StoreSettings
from services.platform.subjects import TWEETS_CREATED
from services.timelines.adapters.store import home_key, member
from services.timelines.consumers.fanout import CONSUMER as FANOUT
from tests.integration.graph.support import Account, register
from tests.integration.streams import find_event
from tests.integration.timelines.support import Anonymous, anonymous, eventually
from tests.stack import GATEWAY

AUTHORS = 3
#: Each author's followers whose home timelines are checked.
FOLLOWERS = 2
#: A component must be running and healthy again this long after its kill.
BACK_SECONDS = 180.0
#: Steady load between two kills.
CALM_SECONDS = 2.0
#: How long the events of the posts may take to reach timelines and search after the last kill:
#: an event whose handling failed during an outage is redelivered 1, 2, 4, 8, 16 then every 30 s
#: (services/platform/consumers.py), and a consumer killed mid-batch has its batch redelivered
#: after its ack wait, behind whatever backlog the rest of the suite left.
SETTLE_SECONDS = 180.0
#: A client's first wait before it sends a failed request again, and the longest: every
#: attempt at a post counts towards the author's limit (300 per 3 h), retries included.
RETRY_SECONDS = 0.2
RETRY_MAX_SECONDS = 2.0
#: Between an author's posts (a run of about two minutes stays far below the limit).
POST_EVERY_SECONDS = 0.8
#: On the cluster shape, how long after a kill requests may still fail (5xx or a dropped
#: connection). Most kills cost none (a Redis failover stalls its slots about 4 s). A Cassandra
#: node costs about 12 s: until its peers convict it (11.5 s after its last heartbeat at the
#: failure detector's most sensitive setting), they keep choosing it to hold logged batches'
#: batchlogs (the two other nodes are a three-node ring's only candidates); posts wait through
#: the batches' retries and some still fail (devstack/cassandra_ring.py). The slowest answer is
#: printed too.
CLUSTER_ERROR_SECONDS = 15.0
#: How long a client waits for an answer, as a phone app does (then it counts a failure).
CLIENT_TIMEOUT_SECONDS = 30.0


@dataclass
class Load:
    """What the clients saw: acknowledged posts and follows, when requests failed, and when each
    answer came and how long it took."""

    posts: dict[str, list[int]] = field(default_factory=dict)
    follows: int = 0
    failures: list[float] = field(default_factory=list)
    answers: list[tuple[float, float]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def until_acknowledged(
        self, send: Callable[[], Awaitable[httpx.Response]], what: str
    ) -> httpx.Response:
        """``send`` again until it is answered 200; a 5xx or a lost connection is retried
        (and noted), waiting longer each time, and any other answer fails the test."""
        wait = RETRY_SECONDS
        while True:
            response = await self.timed(send)
            if response is not None and response.status_code == 200:
                return response
            if response is not None and response.status_code < 500:
                pytest.fail(f"{what}: {response.status_code} {response.text}")
            await asyncio.sleep(wait)
            wait = min(wait * 2, RETRY_MAX_SECONDS)

    async def timed(self, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response | None:
        """``send``'s answer, None for none (a lost connection, a timeout); an answer's time is
        noted, a 5xx or none as a failure."""
        began = time.monotonic()
        try:
            response: httpx.Response | None = await send()
        except httpx.HTTPError:
            response = None
        ended = time.monotonic()
        self.answers.append((ended, ended - began))
        if response is None or response.status_code >= 500:
            self.failures.append(ended)
        return response


async def _post_steadily(http: httpx.AsyncClient, load: Load, author: Account, word: str) -> None:
    number = 0
    while not load.stopping.is_set():
        body = {"text": f"{word} {author.username} {number}", "idempotencyKey": uuid.uuid4().hex}
        send = functools.partial(http.post, "/v1/tweets", json=body, headers=author.headers)
        response = await load.until_acknowledged(send, f"post by {author.username}")
        load.posts[author.username].append(int(response.json()["id"]))
        number += 1
        await asyncio.sleep(POST_EVERY_SECONDS)


async def _follow_steadily(http: httpx.AsyncClient, load: Load, target: Account) -> None:
    path = f"/v1/users/{target.username}:follow"
    while not load.stopping.is_set():
        send = functools.partial(http.post, path, json={}, headers=anonymous().headers)
        await load.until_acknowledged(send, f"follow of {target.username}")
        load.follows += 1
        await asyncio.sleep(0.5)


async def _read_steadily(http: httpx.AsyncClient, load: Load, readers: list[Anonymous]) -> None:
    while not load.stopping.is_set():
        for reader in readers:
            await load.timed(
                functools.partial(http.get, "/v1/timelines/home", headers=reader.headers)
            )
        await asyncio.sleep(0.2)


async def _kill_and_wait(component: Component) -> float:
    """SIGKILLs the component's process group (as a crashed container dies); the seconds until
    the supervisor has it running and healthy again."""
    process = ManagedProcess(component.name)
    pid = process.pid()
    assert pid is not None, f"{component.name} is not running"
    restarts = Restarts.of(component.name).count
    killed = time.monotonic()
    os.killpg(pid, signal.SIGKILL)
    while True:
        back = process.pid() not in (None, pid) and await asyncio.to_thread(component.probe) is None
        if back:
            assert Restarts.of(component.name).count == restarts + 1
            return time.monotonic() - killed
        assert time.monotonic() - killed < BACK_SECONDS, f"{component.name} is not back"
        await asyncio.sleep(0.5)


async def _timeline(
    http: httpx.AsyncClient, path: str, account: Account | Anonymous, **query: str
) -> list[int]:
    """Every tweet id of a paged list, page by page."""
    ids: list[int] = []
    token = ""
    while True:
        params = {**query, "pageSize": "100", **({"pageToken": token} if token else {})}
        response = await http.get(path, params=params, headers=account.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        ids.extend(int(tweet["id"]) for tweet in body.get("tweets", []))
        token = body.get("nextPageToken", "")
        if not token:
            return ids


async def _settles(
    check: Callable[[], Awaitable[list[int]]],
    expected: list[int],
    what: str,
    kills: list[tuple[str, float]],
    explain: Callable[[list[int]], Awaitable[str]] | None = None,
) -> None:
    """Waits until ``check`` answers ``expected``; if it never does, fails naming the posts
    missing or extra, with the component killed last before each was posted (and what
    ``explain`` finds of the missing ones)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while (got := await check()) != expected:
        if time.monotonic() > deadline:
            missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
            found = await explain(missing) if explain and missing else ""
            pytest.fail(
                f"{what}: missing {_when(missing, kills)}, extra {_when(extra, kills)}, "
                f"{len(got) - len(set(got))} repeated. {found}"
            )
        await asyncio.sleep(0.2)


async def _fanned_out(audience: list[int], tweet_ids: list[int]) -> str:
    """Where posts missing from home timelines got to: whether their ``tweets.created`` is in
    the stream, which of ``audience``'s timelines in Redis hold them, and the fanout consumer's
    backlog."""
    redis_client = resp_client(StoreSettings().redis_url)
    try:
        lines = []
        for tweet_id in tweet_ids:
            made = datetime.fromtimestamp(timestamp_ms(tweet_id) / 1000 - 5, UTC)
            event = await find_event(TWEETS_CREATED, made, functools.partial(_about, tweet_id))
            held = [
                user_id
                for user_id in audience
                if await redis_client.call("ZSCORE", home_key(user_id), member(tweet_id))
            ]
            lines.append(f"{tweet_id}: published {event is not None}, in the timelines of {held}")
        connection = await connect(StoreSettings().nats_url)
        try:
            fanout = await connection.jetstream().consumer_info(
                STREAM.name or "", FANOUT.durable_name or ""
            )
        finally:
            await connection.close()
        backlog = f"{fanout.num_pending} pending, {fanout.num_ack_pending} unacknowledged"
        lines.append(f"fanout consumer: {backlog}")
        return "; ".join(lines)
    finally:
        await redis_client.aclose()


def _about(tweet_id: int, event: tweet_events_pb2.TweetCreatedEvent) -> bool:
    return event.tweet.id == tweet_id


def _when(ids: list[int], kills: list[tuple[str, float]]) -> list[str]:
    """Each id with when it was made, and after which kill."""
    described = []
    for tweet_id in ids:
        made = timestamp_ms(tweet_id) / 1000
        after = [name for name, moment in kills if moment <= made]
        described.append(f"{tweet_id} at {made:.3f} (after killing {after[-1] if after else '-'})")
    return described


async def _sorted_timeline(
    http: httpx.AsyncClient, path: str, account: Account | Anonymous, **query: str
) -> list[int]:
    return sorted(await _timeline(http, path, account, **query))


async def _each_post_found_once(
    http: httpx.AsyncClient,
    author: Account,
    followers: list[Anonymous],
    load: Load,
    word: str,
    kills: list[tuple[str, float]],
) -> None:
    """Every acknowledged post of ``author`` once on their timeline, on each follower's home
    timeline and in search, and nothing else."""
    acknowledged = sorted(load.posts[author.username])
    assert acknowledged, f"{author.username} never posted"
    timeline = await _timeline(http, f"/v1/users/{author.username}/tweets", author)
    assert sorted(timeline) == acknowledged, author.username  # each once, no other
    audience = [author.id, *(follower.id for follower in followers)]
    for reader in followers:
        home = functools.partial(_sorted_timeline, http, "/v1/timelines/home", reader)
        explain = functools.partial(_fanned_out, audience)
        await _settles(home, acknowledged, f"{reader.id}'s home timeline", kills, explain)
    query = f"{word} from:{author.username}"
    searched = functools.partial(_sorted_timeline, http, "/v1/search/tweets", author, q=query)
    await _settles(searched, acknowledged, f"search for {author.username}", kills)


def _victims() -> list[Component]:
    """Every component on the single-node shape but Prometheus and its exporters (nothing of a
    request goes through them); on the cluster shape, one node of each store that has several
    (its others carry on) and one process of each service."""
    if REPLICAS == 1:
        return [component for component in COMPONENTS if component.stage != "monitoring"]
    return by_name(
        [
            _a_redis_master(),
            "nats-2",
            "cassandra-2",
            *(f"{name}-1" for name in SERVICE_PORTS),
        ]
    )


def _a_redis_master() -> str:
    for index, port in enumerate(redis_cluster.PORTS):
        with redis.Redis(port=port, socket_timeout=2) as node:
            if node.info("replication")["role"] == "master":
                return redis_cluster.node_name(index)
    pytest.fail("no Redis master")


@pytest.mark.chaos
@pytest.mark.timeout(600)  # about 14 kills, each waited for, and the events settling after
async def test_every_component_killed_in_turn_loses_no_acknowledged_write(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert ManagedProcess(supervisor.NAME).pid() is not None, "the stack runs unsupervised"
    word = f"chaos{uuid.uuid4().hex[:8]}x"
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=CLIENT_TIMEOUT_SECONDS) as http:
        authors = [await register(http, "c") for _ in range(AUTHORS)]
        target = await register(http, "t")
        followers = {author.username: [anonymous() for _ in range(FOLLOWERS)] for author in authors}
        for author in authors:
            for follower in followers[author.username]:
                response = await http.post(
                    f"/v1/users/{author.username}:follow", json={}, headers=follower.headers
                )
                assert response.status_code == 200, response.text
        readers = [reader for group in followers.values() for reader in group]
        for reader in readers:  # active readers: the fanout writes to their timelines
            response = await http.get("/v1/timelines/home", headers=reader.headers)
            assert response.status_code == 200, response.text

        load = Load(posts={author.username: [] for author in authors})
        clients = [
            *(_post_steadily(http, load, author, word) for author in authors),
            _follow_steadily(http, load, target),
            _read_steadily(http, load, readers),
        ]
        running = asyncio.gather(*clients)
        downtime: list[tuple[str, float, float, int, float]] = []
        kills: list[tuple[str, float]] = []
        try:
            await asyncio.sleep(CALM_SECONDS)
            for component in _victims():
                kills.append((component.name, time.time()))
                killed = time.monotonic()
                back_after = await _kill_and_wait(component)
                await asyncio.sleep(CALM_SECONDS)
                failed = [moment for moment in load.failures if moment >= killed]
                window = (failed[-1] - killed) if failed else 0.0
                slowest = max((took for ended, took in load.answers if ended >= killed), default=0)
                downtime.append((component.name, back_after, window, len(failed), slowest))
                load.failures.clear()
                load.answers.clear()
        finally:
            load.stopping.set()
            await running

        with capsys.disabled():  # the measurements, in every run's output, passed or not
            print("\ncomponent     back after   errors for   failed requests   slowest answer")
            for name, back_after, window, count, slowest in downtime:
                print(
                    f"{name:<13} {back_after:>8.1f} s {window:>10.1f} s {count:>17} "
                    f"{slowest:>14.1f} s"
                )
        for author in authors:
            await _each_post_found_once(http, author, followers[author.username], load, word, kills)

        async def followers_counted() -> int:
            response = await http.get(f"/v1/users/{target.username}")
            return int(response.json()["followerCount"])

        await eventually(
            followers_counted, functools.partial(operator.eq, load.follows), SETTLE_SECONDS
        )
        # Checked last, so that a slow recovery still shows whether anything was lost.
        if REPLICAS > 1:
            slow = [
                (name, window)
                for name, _, window, _, _ in downtime
                if window > CLUSTER_ERROR_SECONDS
            ]
            assert not slow, (
                f"errors for longer than {CLUSTER_ERROR_SECONDS} s after a kill: {slow}"
            )
