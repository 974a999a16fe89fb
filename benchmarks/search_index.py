"""The search index at scale: ``python -m benchmarks.search_index [--docs 1000000]``.

Generates tweets (words and hashtags drawn from Zipf distributions, authors from a power law),
indexes them through the search service's own adapter (``TantivyTweetIndex.upsert`` in batches, then
``commit``, as the indexer does) into a temporary folder, and reports the indexing throughput
and the size on disk. Then it runs a mix of word, phrase, hashtag and from: queries twice in the
same run: through the service's search path (``SearchService.search_tweets``: parse, compile,
Tantivy, ``top`` in a worker thread, token; hydration answered in memory, so the tweets service's
``BatchGetTweets`` round trip is not part of it) and directly against Tantivy (the same queries
built by hand and run on the searcher), and prints p50/p99 of each. The folder is deleted
afterwards. Nothing here touches the running stack.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from services.platform.caches.tweet_cache import ReadyTweet, ready_of
from services.platform.ids import compose
from services.search.adapters.index import TEXT_ANALYZER, TantivyTweetIndex, TantivyUserIndex
from services.search.service import SearchService

BATCH = 10_000
COMMIT_EVERY = 100_000
START_MS = 1_790_000_000_000
SPAN_MS = 30 * 86_400_000
SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]


def _words(count: int, rng: random.Random, prefix: str = "") -> list[str]:
    """``count`` distinct made-up words of 2-4 syllables."""
    found: dict[str, None] = {}
    while len(found) < count:
        found[prefix + "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))] = None
    return list(found)


class Zipf:
    """Draws ranks 0..n-1 with weight 1 / (rank + 1) ** alpha."""

    def __init__(self, n: int, alpha: float, rng: random.Random) -> None:
        total = 0.0
        self._cumulative = []
        for rank in range(n):
            total += 1 / (rank + 1) ** alpha
            self._cumulative.append(total)
        self._rng = rng

    def draw(self) -> int:
        return bisect.bisect_left(self._cumulative, self._rng.random() * self._cumulative[-1])


@dataclass
class Corpus:
    words: list[str]
    tags: list[str]
    usernames: list[str]
    word_rank: Zipf
    tag_rank: Zipf
    author_rank: Zipf
    rng: random.Random
    phrases: list[str]

    @classmethod
    def make(cls, seed: int, authors: int) -> Corpus:
        rng = random.Random(seed)  # noqa: S311 (reproducible test data)
        return cls(
            words=_words(30_000, rng),
            tags=_words(5_000, rng, prefix="t"),
            usernames=[f"user{i}" for i in range(authors)],
            word_rank=Zipf(30_000, 1.07, rng),
            tag_rank=Zipf(5_000, 1.1, rng),
            author_rank=Zipf(authors, 1.2, rng),
            rng=rng,
            phrases=[],
        )

    def tweet(self, number: int, total: int) -> tweet_pb2.Tweet:
        rng = self.rng
        words = [self.words[self.word_rank.draw()] for _ in range(rng.randint(6, 18))]
        if number % 97 == 0 and len(self.phrases) < 5_000:
            start = rng.randrange(len(words) - 1)
            self.phrases.append(f"{words[start]} {words[start + 1]}")
        hashtags = [self.tags[self.tag_rank.draw()] for _ in range(rng.choice((0, 0, 1, 1, 2)))]
        mentions = [self.usernames[self.author_rank.draw()]] if rng.random() < 0.15 else []
        author = self.author_rank.draw()
        created_ms = START_MS + SPAN_MS * number // total
        created = Timestamp()
        created.FromMilliseconds(created_ms)
        text = " ".join([*words, *(f"#{t}" for t in hashtags), *(f"@{m}" for m in mentions)])
        return tweet_pb2.Tweet(
            id=compose(created_ms, 1, number % 4096),
            author=user_pb2.User(id=author + 1, username=self.usernames[author]),
            text=text,
            create_time=created,
            like_count=rng.randrange(20) if rng.random() < 0.3 else 0,
            entities=tweet_pb2.TweetEntities(
                hashtags=[tweet_pb2.HashtagEntity(tag=t) for t in hashtags],
                mentions=[tweet_pb2.MentionEntity(username=m) for m in mentions],
            ),
        )


class InMemoryTweets:
    """Hydration without the tweets service: a tweet of the requested id."""

    async def batch_get(self, ids: Sequence[int]) -> list[tweet_pb2.Tweet]:
        return [tweet_pb2.Tweet(id=i) for i in ids]

    async def ready(self, ids: Sequence[int]) -> list[ReadyTweet]:
        return [ready_of(tweet) for tweet in await self.batch_get(ids)]

    async def stream(self) -> AsyncIterator[list[tweet_pb2.Tweet]]:
        for _ in ():
            yield []


class NoUsers:
    async def batch_get(self, _ids: Sequence[int]) -> list[user_pb2.User]:
        return []

    async def stream(self) -> AsyncIterator[list[user_pb2.User]]:
        for _ in ():
            yield []


class NoGraph:
    async def follower_counts(self, _ids: Sequence[int]) -> dict[int, int]:
        return {}


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


async def index_corpus(index: TantivyTweetIndex, corpus: Corpus, docs: int) -> float:
    """Indexes ``docs`` tweets; returns the seconds it took (generation excluded)."""
    spent = 0.0
    for start in range(0, docs, BATCH):
        batch = [corpus.tweet(n, docs) for n in range(start, min(start + BATCH, docs))]
        began = time.perf_counter()
        await index.upsert(batch)
        if (start + BATCH) % COMMIT_EVERY == 0 or start + BATCH >= docs:
            await index.store.commit()
        spent += time.perf_counter() - began
        if (start + BATCH) % 200_000 == 0:
            print(f"  indexed {start + BATCH:,} tweets", file=sys.stderr, flush=True)
    return spent


def queries(corpus: Corpus, per_kind: int) -> dict[str, list[str]]:
    rng = random.Random(7)  # noqa: S311 (reproducible test data)
    return {
        "word": [corpus.words[corpus.word_rank.draw()] for _ in range(per_kind)],
        "phrase": [f'"{p}"' for p in rng.choices(corpus.phrases, k=per_kind)],
        "hashtag": [f"#{corpus.tags[corpus.tag_rank.draw()]}" for _ in range(per_kind)],
        "from:": [f"from:{corpus.usernames[corpus.author_rank.draw()]}" for _ in range(per_kind)],
    }


def direct_query(index: TantivyTweetIndex, q: str) -> tantivy.Query:
    """The same query, built by hand on the Tantivy API."""
    schema = index.store.schema
    if q.startswith("#"):
        return tantivy.Query.term_query(schema, "hashtags", q[1:].lower())
    if q.startswith("from:"):
        return tantivy.Query.term_query(schema, "author", q[5:].lower())
    tokens = index.store.analyze(TEXT_ANALYZER, q.strip('"'))
    if len(tokens) == 1:
        return tantivy.Query.term_query(schema, "text", tokens[0])
    return tantivy.Query.phrase_query(schema, "text", list(tokens))


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


async def measure(
    index: TantivyTweetIndex, service: SearchService, mix: dict[str, list[str]]
) -> str:
    lines = [f"{'query kind':<12}{'path':<22}{'p50 ms':>9}{'p99 ms':>9}{'hits/q':>9}"]
    searcher = index.store.searcher()
    for kind, qs in mix.items():
        for path in ("service (latest)", "service (top)", "tantivy direct"):
            samples: list[float] = []
            hits = 0
            for q in qs:
                began = time.perf_counter()
                if path == "tantivy direct":
                    found = searcher.search(
                        direct_query(index, q), 21, count=False, order_by_field="id"
                    ).hits
                    hits += min(len(found), 20)
                else:
                    order = "top" if "top" in path else "latest"
                    tweets, _ = await service.search_tweets(q, order, 20, "")
                    hits += len(tweets)
                samples.append((time.perf_counter() - began) * 1000)
            p50, p99 = percentiles(samples)
            lines.append(f"{kind:<12}{path:<22}{p50:>9.2f}{p99:>9.2f}{hits / len(qs):>9.1f}")
    return "\n".join(lines)


async def run(docs: int, per_kind: int, seed: int) -> str:
    folder = Path(tempfile.mkdtemp(prefix="chirp-search-bench-"))
    try:
        corpus = Corpus.make(seed, authors=max(docs // 10, 100))
        index = TantivyTweetIndex(folder)
        users = TantivyUserIndex(folder)
        service = SearchService(index, users, InMemoryTweets(), NoUsers(), NoGraph())
        seconds = await index_corpus(index, corpus, docs)
        await index.store.close()  # waits for merges: the size is the settled one
        size = _size(folder / "tweets-1")
        index = TantivyTweetIndex(folder)
        service = SearchService(index, users, InMemoryTweets(), NoUsers(), NoGraph())
        table = await measure(index, service, queries(corpus, per_kind))
        await index.store.close()
        await users.store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return (
        f"indexed {docs:,} tweets in {seconds:.1f} s: {docs / seconds:,.0f} docs/s "
        f"(TantivyTweetIndex.upsert in batches of {BATCH:,}, a commit every {COMMIT_EVERY:,}; one "
        f"writer thread, 64 MB heap, the service's settings)\n"
        f"on disk: {size / 1e6:,.1f} MB ({size / docs:.0f} bytes/tweet)\n"
        f"{per_kind} queries of each kind, one at a time, page of 20:\n{table}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_index")
    parser.add_argument("--docs", type=int, default=1_000_000, help="tweets to index")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(asyncio.run(run(args.docs, args.queries, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
