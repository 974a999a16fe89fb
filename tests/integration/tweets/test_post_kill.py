"""SIGKILL the tweets service again and again while an author posts: every acknowledged post
is found exactly once everywhere.

A second tweets process (the real service, the stack's environment, free ports) takes the
posts; a killer SIGKILLs it at a random moment soon after each start, mid-post more often than
not, and starts it again. The author's client does what a client must: it sends each post with
its own idempotency key, again and again, until one attempt is acknowledged. Then, read through
the stack's own services: the author's timeline holds each post once and nothing else, the
profile counts none twice, a follower's home timeline holds each once (the ``tweet.created``
events, published by whichever process's outbox relay found them), and search finds each once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from chirp.tweets.v1 import tweets_service_pb2, tweets_service_pb2_grpc

from devstack.components import by_name
from devstack.paths import DATA
from tests.integration.graph.support import Account, register
from tests.integration.search.support import found
from tests.integration.timelines.support import GATEWAY, anonymous, eventually, follow, page
from tests.processes import free_port, start_service

POSTS = 40
#: Posts in flight at once, so that a kill lands in the middle of some.
POSTERS = 4
#: A kill comes this long at most after the first post a new process acknowledges.
KILL_WITHIN_SECONDS = 0.03
#: Codes of a call that died with its server (or waited for it): the client tries again.
RETRIED = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
EVENTS_SECONDS = 60.0


class KillableTweets:
    """The tweets service in a process of its own, started again after each kill."""

    def __init__(self, log: Path) -> None:
        (component,) = by_name(["tweets"])
        self.port = free_port()
        self._env = {
            **os.environ,
            **component.env,
            "CHIRP_DATA_DIR": str(DATA),
            "CHIRP_GRPC_PORT": str(self.port),
            "CHIRP_METRICS_PORT": str(free_port()),
            "CHIRP_LOG_LEVEL": "warning",
        }
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._process = start_service("tweets", self._env, self._log, self.address)

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()
            self.kills += 1


@pytest.fixture
def tweets(tmp_path: Path) -> Iterator[KillableTweets]:
    service = KillableTweets(tmp_path / "tweets.log")
    service.start()
    yield service
    service.kill()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as client:
        yield client


class Author:
    """Posts as a client should: each post with its own idempotency key, sent again until one
    attempt is acknowledged (a call that died with its server is tried again)."""

    def __init__(self, account: Account, address: str) -> None:
        self._account = account
        # Reconnects at once: the server is killed and back within seconds, again and again.
        self._channel = grpc.aio.insecure_channel(
            address,
            options=[
                ("grpc.initial_reconnect_backoff_ms", 50),
                ("grpc.min_reconnect_backoff_ms", 50),
                ("grpc.max_reconnect_backoff_ms", 200),
            ],
        )
        self._stub = tweets_service_pb2_grpc.TweetsServiceStub(self._channel)
        self.acknowledged: list[int] = []
        #: Set by each acknowledgment: the process serves posts again.
        self.posting = asyncio.Event()

    async def post(self, text: str) -> None:
        request = tweets_service_pb2.CreateTweetRequest(text=text, idempotency_key=uuid.uuid4().hex)
        while True:
            try:
                tweet = await self._stub.CreateTweet(
                    request, metadata=self._account.metadata, timeout=10
                )
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRIED:
                    raise
                await asyncio.sleep(0.02)
            else:
                self.acknowledged.append(tweet.id)
                self.posting.set()
                return

    async def close(self) -> None:
        await self._channel.close()


async def _keep_killing(tweets: KillableTweets, author: Author, done: asyncio.Event) -> None:
    """Kills the process soon after each first acknowledgment since it started, while other
    posts are in flight, and starts it again."""
    while not done.is_set():
        posting = asyncio.ensure_future(author.posting.wait())
        await asyncio.wait(
            [posting, asyncio.ensure_future(done.wait())], return_when="FIRST_COMPLETED"
        )
        posting.cancel()
        if done.is_set():
            return
        await asyncio.sleep(random.uniform(0, KILL_WITHIN_SECONDS))  # noqa: S311 (not crypto)
        tweets.kill()
        author.posting.clear()
        await asyncio.to_thread(tweets.start)


async def _author_timeline(author: Account) -> list[int]:
    """Every id of the author's timeline, page by page, from the stack's tweets service."""
    ids: list[int] = []
    token = ""
    async with grpc.aio.insecure_channel("127.0.0.1:50052") as channel:
        stub = tweets_service_pb2_grpc.TweetsServiceStub(channel)
        while True:
            response = await stub.ListUserTweets(
                tweets_service_pb2.ListUserTweetsRequest(
                    username=author.username, page_size=100, page_token=token
                ),
                metadata=author.metadata,
                timeout=10,
            )
            ids.extend(tweet.id for tweet in response.tweets)
            token = response.next_page_token
            if not token:
                return ids


async def test_every_acknowledged_post_is_found_once_everywhere_across_kills(
    tweets: KillableTweets, http: httpx.AsyncClient
) -> None:
    author = await register(http, "k")
    reader = anonymous()
    await follow(http, reader, author.username)
    await page(http, reader)  # an active reader: fanout writes to their timeline
    word = f"killx{uuid.uuid4().hex[:8]}x"
    texts = [f"{word} post {number}" for number in range(POSTS)]

    poster = Author(author, tweets.address)
    queue = list(texts)

    async def post_from_queue() -> None:
        while queue:
            await poster.post(queue.pop())

    done = asyncio.Event()
    killer = asyncio.create_task(_keep_killing(tweets, poster, done))
    try:
        await asyncio.gather(*(post_from_queue() for _ in range(POSTERS)))
    finally:
        done.set()
        await killer
        await poster.close()
    acknowledged = poster.acknowledged

    assert tweets.kills >= 3, "the posts outran the killer: nothing was tested"
    assert len(set(acknowledged)) == POSTS
    timeline = await _author_timeline(author)
    assert sorted(timeline) == sorted(acknowledged)  # each once, and no other
    # The count is a Cassandra counter, added to after the post's batch: a kill between the
    # two leaves it one short (the known window in services/tweets/README.md), never over.
    profile = (await http.get(f"/v1/users/{author.username}")).json()
    assert POSTS - POSTERS * tweets.kills <= int(profile["tweetCount"]) <= POSTS

    async def home() -> list[int]:
        body = await page(http, reader, size=100)
        return [int(tweet["id"]) for tweet in body.get("tweets", [])]

    await eventually(home, lambda ids: sorted(ids) == sorted(acknowledged), EVENTS_SECONDS)
    await eventually(
        lambda: found(http, f"{word} from:{author.username}"),
        lambda ids: sorted(ids) == sorted(acknowledged),
        EVENTS_SECONDS,
    )
