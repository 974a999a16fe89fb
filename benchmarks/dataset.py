"""``python -m benchmarks.dataset [--quick] [--reload]``: the realistic dataset, loaded through the
real services (UsersService.CreateUser, GraphService.FollowUser, TweetsService.CreateTweet over
gRPC, with tokens minted for each account, ``benchmarks/tokens.py``), so that every author,
follower and reader is a real account and home timelines, user timelines, search and trends
all have real data.

- accounts ``b<tag><n>`` (``tag`` is random per load, so loads never collide);
- follows: the power-law generator of ``benchmarks/follow_graph.py`` (followees Zipf-drawn,
  followers uniform; its last user follows exactly 50 accounts, most of them popular: the
  *pull reader*, whose home timeline is mostly merged on read), plus one extra account, the
  *push reader*, following up to 50 of the least followed accounts (at most ``PUSH_FOLLOWERS``
  followers each: fanned out on write under the local celebrity threshold of 5);
- tweets: every account posts ``TWEETS_EACH`` tweets, the rest are Zipf-drawn over accounts;
  words and hashtags are Zipf-drawn from fixed vocabularies (``words``), so searches and trends
  have a realistic long tail.

The load is recorded in ``.data/bench/dataset-<mode>.json``; a later run reuses it when that
file exists and its last account is still known to the users service (``loaded``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from chirp.tweets.v1 import tweets_service_pb2, tweets_service_pb2_grpc
from chirp.users.v1 import users_service_pb2, users_service_pb2_grpc

from benchmarks import follow_graph, tokens
from benchmarks.progress import Progress
from devstack.paths import DATA
from services.platform.settings import GRPC_PORTS

USERS = f"127.0.0.1:{GRPC_PORTS['users']}"
TWEETS = f"127.0.0.1:{GRPC_PORTS['tweets']}"
GRAPH = f"127.0.0.1:{GRPC_PORTS['graph']}"
DIRECTORY = DATA / "bench"
IN_FLIGHT = 16
TWEETS_EACH = 2
PUSH_FOLLOWERS = 4  # followees of the push reader stay under the local threshold of 5
TOKEN_TTL_SECONDS = 12 * 3600
WORDS = 3000
HASHTAGS = 300
WORD_ALPHA = 1.05
HASHTAG_ALPHA = 1.1
AUTHOR_ALPHA = 0.8
MAX_TWEETS_EACH = 100  # the per-account post limit is 300 per 3 hours (CHIRP_RATE_LIMIT_POSTS)
RETRY_SECONDS = 300
RETRIED = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
)


@dataclass(frozen=True)
class Size:
    users: int
    follows: int
    tweets: int
    seed: int = 7

    @classmethod
    def of(cls, *, quick: bool) -> Size:
        return cls(300, 6_000, 3_000) if quick else cls(1_000, 20_000, 10_000)


@dataclass
class Dataset:
    """What the benchmarks need to know about a load (its manifest)."""

    size: Size
    accounts: list[tuple[int, str]]  # (id, username) of every generated user, by index
    pull_reader: tuple[int, str]
    push_reader: tuple[int, str]
    push_followees: int
    tweet_ids: list[int]
    hashtags: list[str]  # most used first
    words: list[str]  # most used first
    seconds: dict[str, float] = field(default_factory=dict)

    def token(self, account: tuple[int, str]) -> str:
        return tokens.mint(account[0], account[1], TOKEN_TTL_SECONDS)

    def most_followed(self) -> tuple[int, str]:
        return self.accounts[0]  # follow_graph's rank 0 is the Zipf head

    def summary(self) -> str:
        loaded = ", ".join(f"{name} {s:.0f}s" for name, s in self.seconds.items())
        return (
            f"{len(self.accounts):,} accounts, {self.size.follows:,} follows and "
            f"{len(self.tweet_ids):,} tweets (seed {self.size.seed}; loaded through the services: "
            f"{loaded})"
        )


# --- text ---------------------------------------------------------------------------------

_SYLLABLES = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"]


def vocabulary(count: int, rng: random.Random, prefix: str = "") -> list[str]:
    """``count`` distinct pronounceable words (2 to 4 syllables)."""
    words: dict[str, None] = {}
    while len(words) < count:
        words[prefix + "".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4)))] = None
    return list(words)


def zipf_weights(count: int, alpha: float) -> list[float]:
    return list(itertools.accumulate(1 / rank**alpha for rank in range(1, count + 1)))


def tweet_texts(size: Size, words: list[str], hashtags: list[str]) -> list[str]:
    """``size.tweets`` texts of 5 to 14 Zipf-drawn words and 0 to 2 Zipf-drawn hashtags."""
    rng = random.Random(size.seed + 1)  # noqa: S311 (reproducible test data)
    word_weights = zipf_weights(len(words), WORD_ALPHA)
    tag_weights = zipf_weights(len(hashtags), HASHTAG_ALPHA)
    texts = []
    for _ in range(size.tweets):
        body = rng.choices(words, cum_weights=word_weights, k=rng.randint(5, 14))
        tags = rng.choices(hashtags, cum_weights=tag_weights, k=rng.choice((0, 1, 1, 2)))
        texts.append(" ".join([*body, *(f"#{tag}" for tag in tags)]))
    return texts


def tweet_authors(size: Size) -> list[int]:
    """Indexes of each tweet's author: TWEETS_EACH per account, the rest Zipf-drawn over a
    shuffled ranking (activity is not the same as popularity), at most MAX_TWEETS_EACH each
    (under the services' per-account post limit, with room for the benchmarks' own posts)."""
    rng = random.Random(size.seed + 2)  # noqa: S311 (reproducible test data)
    ranking = list(range(size.users))
    rng.shuffle(ranking)
    weights = zipf_weights(size.users, AUTHOR_ALPHA)
    counts = Counter(dict.fromkeys(range(size.users), TWEETS_EACH))
    while counts.total() < size.tweets:
        (author,) = rng.choices(ranking, cum_weights=weights)
        if counts[author] < MAX_TWEETS_EACH:
            counts[author] += 1
    authors = list(counts.elements())
    rng.shuffle(authors)
    return authors


# --- loading ------------------------------------------------------------------------------


async def _retrying(call: Callable[[], Awaitable[None]]) -> None:
    """``call``, again while the service is restarting or pushing back (each call is
    idempotent: a repeated account is looked up, follows are idempotent, tweets carry an
    idempotency key)."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            await call()
        except grpc.aio.AioRpcError as error:
            if error.code() not in RETRIED or time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)
        else:
            return


async def _bounded(calls: Sequence[Callable[[], Awaitable[None]]], label: str) -> float:
    """Runs ``calls`` with at most IN_FLIGHT at a time; returns the seconds it took."""
    semaphore = asyncio.Semaphore(IN_FLIGHT)
    started = time.monotonic()
    progress = Progress(label, len(calls))

    async def one(call: Callable[[], Awaitable[None]]) -> None:
        async with semaphore:
            await _retrying(call)
        progress.advance()

    await asyncio.gather(*(one(call) for call in calls))
    progress.finish()
    seconds = time.monotonic() - started
    print(f"  {len(calls):,} {label} in {seconds:.1f}s ({len(calls) / seconds:,.0f}/s)", flush=True)
    return seconds


def _auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def _load(size: Size) -> Dataset:
    tag = uuid.uuid4().hex[:4]
    graph = follow_graph.generate(
        follow_graph.Size(users=size.users, follows=size.follows, seed=size.seed)
    )
    rng = random.Random(size.seed)  # noqa: S311 (reproducible test data)
    words = vocabulary(WORDS, rng)
    hashtags = vocabulary(HASHTAGS, rng)
    names = [f"b{tag}{index:05d}" for index in range(size.users)] + [f"b{tag}push"]
    ids: dict[str, int] = {}
    seconds: dict[str, float] = {}
    async with (
        grpc.aio.insecure_channel(USERS) as users_channel,
        grpc.aio.insecure_channel(GRAPH) as graph_channel,
        grpc.aio.insecure_channel(TWEETS) as tweets_channel,
    ):
        users = users_service_pb2_grpc.UsersServiceStub(users_channel)
        follows = graph_service_pb2_grpc.GraphServiceStub(graph_channel)
        tweets = tweets_service_pb2_grpc.TweetsServiceStub(tweets_channel)

        def create(name: str) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                request = users_service_pb2.CreateUserRequest(
                    username=name, password=uuid.uuid4().hex, display_name=name.title()
                )
                try:
                    ids[name] = (await users.CreateUser(request, timeout=60)).id
                except grpc.aio.AioRpcError as error:
                    if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                        raise
                    known = users_service_pb2.GetUserRequest(username=name)
                    ids[name] = (await users.GetUser(known, timeout=60)).id

            return call

        seconds["accounts"] = await _bounded([create(name) for name in names], "accounts")
        token_of = {name: tokens.mint(ids[name], name, TOKEN_TTL_SECONDS) for name in names}

        def follow(follower: str, followee: str) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                request = graph_service_pb2.FollowUserRequest(username=followee)
                await follows.FollowUser(request, metadata=_auth(token_of[follower]), timeout=60)

            return call

        quiet = [u for u in range(size.users) if graph.follower_counts[u] <= PUSH_FOLLOWERS - 1]
        push_followees = [names[u] for u in quiet[: follow_graph.CALLER_FOLLOWS]]
        pairs = [
            (names[graph.followers[i]], names[graph.followees[i]])
            for i in range(len(graph.followers))
        ] + [(names[-1], followee) for followee in push_followees]
        seconds["follows"] = await _bounded([follow(*pair) for pair in pairs], "follows")

        texts = tweet_texts(size, words, hashtags)
        authors = tweet_authors(size)
        tweet_ids: list[int] = [0] * len(texts)

        def post(index: int) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                author = names[authors[index]]
                request = tweets_service_pb2.CreateTweetRequest(
                    text=texts[index], idempotency_key=f"bench-dataset-{tag}-{index}"
                )
                tweet = await tweets.CreateTweet(
                    request, metadata=_auth(token_of[author]), timeout=60
                )
                tweet_ids[index] = tweet.id

            return call

        seconds["tweets"] = await _bounded([post(i) for i in range(len(texts))], "tweets")
    accounts = [(ids[name], name) for name in names[:-1]]
    return Dataset(
        size=size,
        accounts=accounts,
        pull_reader=accounts[graph.caller],
        push_reader=(ids[names[-1]], names[-1]),
        push_followees=len(push_followees),
        tweet_ids=tweet_ids,
        hashtags=hashtags,
        words=words,
        seconds=seconds,
    )


def manifest(*, quick: bool) -> Path:
    return DIRECTORY / f"dataset-{'quick' if quick else 'full'}.json"


def _read(path: Path) -> Dataset | None:
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return Dataset(
        size=Size(**raw["size"]),
        accounts=[(int(i), str(n)) for i, n in raw["accounts"]],
        pull_reader=(int(raw["pull_reader"][0]), str(raw["pull_reader"][1])),
        push_reader=(int(raw["push_reader"][0]), str(raw["push_reader"][1])),
        push_followees=int(raw["push_followees"]),
        tweet_ids=[int(i) for i in raw["tweet_ids"]],
        hashtags=list(raw["hashtags"]),
        words=list(raw["words"]),
        seconds={str(k): float(v) for k, v in raw["seconds"].items()},
    )


async def _known(username: str) -> bool:
    async with grpc.aio.insecure_channel(USERS) as channel:
        stub = users_service_pb2_grpc.UsersServiceStub(channel)
        try:
            await stub.GetUser(users_service_pb2.GetUserRequest(username=username), timeout=10)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
    return True


def loaded(*, quick: bool) -> Dataset | None:
    """The dataset of this mode, if its manifest exists and the stack still has its accounts."""
    dataset = _read(manifest(quick=quick))
    if dataset is None or not asyncio.run(_known(dataset.push_reader[1])):
        return None
    return dataset


def prepare(*, quick: bool, reload: bool = False) -> Dataset:
    """The dataset of this mode, loaded first unless it already is (or ``reload``)."""
    dataset = None if reload else loaded(quick=quick)
    if dataset is not None:
        return dataset
    size = Size.of(quick=quick)
    print(
        f"loading the dataset through the services: {size.users:,} accounts, "
        f"{size.follows:,} follows, {size.tweets:,} tweets",
        flush=True,
    )
    dataset = asyncio.run(_load(size))
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    manifest(quick=quick).write_text(json.dumps(asdict(dataset)))
    return dataset


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dataset", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the small dataset")
    parser.add_argument("--reload", action="store_true", help="load again even if loaded")
    args = parser.parse_args(argv)
    print(prepare(quick=args.quick, reload=args.reload).summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
