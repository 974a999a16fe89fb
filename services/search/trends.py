"""Trends: which terms of new tweets count, how a term's score is computed, the decaying peak.

Pure rules plus ``TrendService``, which runs them over a ``TrendStore``
(``adapters/trend_store.py``, Redis). See the README for the parameters and why they are what
they are.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from chirp.search.v1 import trend_pb2

from services.platform.paging import decode_int, encode_token
from services.search.query import fingerprint

#: Terms scanned per recompute at most (the most used in the window), and terms whose distinct
#: authors are counted exactly (the best bounds among them).
MAX_SCANNED = 20_000
MAX_CANDIDATES = 1_000
#: Terms counted per tweet at most (hashtags first), so one long tweet costs a bounded amount.
MAX_TERMS_PER_TWEET = 48

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each even ever every few for from further get gets got had
    hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him
    himself his how how's however i i'd i'll i'm i've if im in into is isn't it it's its itself
    just let's like lol me more most much mustn't my myself new no nor not now of off oh ok okay
    on once one only or other ought our ours ourselves out over own really rt same say says she
    she'd she'll she's should shouldn't so some still such than that that's the their theirs them
    themselves then there there's these they they'd they'll they're they've this those though
    through to too under until up us very via was wasn't we we'd we'll we're we've well were
    weren't what what's when when's where where's which while who who's whom why why's will with
    won't would wouldn't yeah yes yet you you'd you'll you're you've your yours yourself
    yourselves amp http https www com
    """.split()  # noqa: SIM905  (a word list reads better as text)
)

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_TAG_OR_MENTION = re.compile(r"[#@\uff03\uff20]\w+")
_BREAK = re.compile(r"[.,!?;:()\[\]{}\"\u201c\u201d\u2026\n|/\\]+")
_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")


def terms(text: str, hashtags: Sequence[str]) -> list[str]:
    """What a tweet contributes to trends: its hashtags (``#tag``, lowercased), its words and
    its two-word phrases (lowercased), leaving out stop words, numbers, single letters, URLs
    and mentions. A phrase is two adjacent words of one clause (no punctuation between)."""
    found = dict.fromkeys(f"#{tag.lower()}" for tag in hashtags)
    cleaned = _TAG_OR_MENTION.sub(".", _URL.sub(".", text.lower()))
    for clause in _BREAK.split(cleaned):
        words = [w.replace("\u2019", "'") for w in _WORD.findall(clause)]
        kept = [_is_topic_word(w) for w in words]
        for i, word in enumerate(words):
            if kept[i]:
                found[word] = None
                if i + 1 < len(words) and kept[i + 1]:
                    found[f"{word} {words[i + 1]}"] = None
    return list(found)[:MAX_TERMS_PER_TWEET]


def _is_topic_word(word: str) -> bool:
    return len(word) > 1 and word not in STOP_WORDS and not word.isdigit() and "_" not in word


@dataclass(frozen=True)
class TrendParams:
    bucket_seconds: int = 60
    #: The current window: this many buckets up to now (the last one still filling).
    window_buckets: int = 5
    #: The baseline: this many buckets just before the window.
    baseline_buckets: int = 60
    #: Distinct authors a term needs in the window to trend at all.
    min_authors: int = 5
    #: The expectation of a term with no history (avoids dividing by zero for new terms).
    min_expected: float = 1.0
    #: A shown trend's score is at least this.
    min_score: float = 1.0
    #: A peak score halves every this many seconds once the term cools down.
    peak_half_life_seconds: float = 600.0

    def bucket(self, at_seconds: float) -> int:
        return int(at_seconds // self.bucket_seconds)


@dataclass(frozen=True)
class TermCounts:
    term: str
    #: Distinct authors in the window.
    authors: int
    #: Tweets in the window.
    tweets: int
    #: Distinct authors per baseline bucket, summed over the baseline buckets.
    baseline_authors: int


@dataclass(frozen=True)
class Peak:
    score: float
    at: float

    def at_time(self, now: float, half_life: float) -> float:
        return float(self.score * 0.5 ** (max(now - self.at, 0.0) / half_life))


@dataclass(frozen=True)
class Trend:
    term: str
    tweets: int
    authors: int
    score: float

    def message(self) -> trend_pb2.Trend:
        hashtag = self.term.startswith("#")
        return trend_pb2.Trend(
            name=self.term,
            kind=trend_pb2.TREND_KIND_HASHTAG if hashtag else trend_pb2.TREND_KIND_TOPIC,
            query=self.term if hashtag or " " not in self.term else f'"{self.term}"',
            tweet_count=self.tweets,
            author_count=self.authors,
            score=round(self.score, 3),
        )


def expected(counts: TermCounts, params: TrendParams) -> float:
    """Distinct authors the window would have at the term's baseline rate."""
    per_bucket = counts.baseline_authors / params.baseline_buckets
    return max(per_bucket * params.window_buckets, params.min_expected)


def score(counts: TermCounts, params: TrendParams) -> float:
    """``(observed - expected)^2 / expected`` when the window has at least ``min_authors``
    distinct authors and more than expected; else 0 (a term below its baseline is not news)."""
    want = expected(counts, params)
    if counts.authors < params.min_authors or counts.authors <= want:
        return 0.0
    return (counts.authors - want) ** 2 / want


def rank(
    counts: Sequence[TermCounts], peaks: dict[str, Peak], now: float, params: TrendParams
) -> tuple[list[Trend], dict[str, Peak]]:
    """Trends, highest score first, and the peaks to keep. A term's shown score is the larger
    of its score now and its decayed peak, so a trend fades out instead of flickering."""
    trends: list[Trend] = []
    kept: dict[str, Peak] = {}
    for term_counts in counts:
        now_score = score(term_counts, params)
        previous = peaks.get(term_counts.term)
        decayed = previous.at_time(now, params.peak_half_life_seconds) if previous else 0.0
        peak = Peak(now_score, now) if now_score >= decayed or previous is None else previous
        shown = max(now_score, decayed)
        if shown >= params.min_score and not math.isnan(shown):
            kept[term_counts.term] = peak
            # Nobody in the window uses it any more: it is no longer shown, though its peak is
            # kept in case it comes back (a burst's huge peak would otherwise linger for hours).
            if term_counts.authors:
                trends.append(
                    Trend(term_counts.term, term_counts.tweets, term_counts.authors, shown)
                )
    trends.sort(key=lambda t: (-t.score, t.term))
    return trends, kept


class TrendStore(Protocol):
    async def record(self, tweets: Sequence[tuple[int, int, int, Sequence[str]]]) -> None:
        """Counts ``(tweet id, author id, bucket, terms)``; a tweet counted before is not
        counted again."""
        ...

    async def frequent(self, buckets: Sequence[int], minimum: int, limit: int) -> dict[str, int]:
        """Terms whose per-bucket distinct authors, summed over ``buckets``, reach
        ``minimum`` (at most ``limit``, the highest), with those sums."""
        ...

    async def author_sums(self, buckets: Sequence[int], terms: Sequence[str]) -> list[int]:
        """Per term: its per-bucket distinct authors summed over ``buckets``, which are past
        buckets (the baseline): an adapter may keep the sums for a bucket's time."""
        ...

    async def tweet_sums(self, buckets: Sequence[int], terms: Sequence[str]) -> list[int]: ...

    async def distinct_authors(self, buckets: Sequence[int], terms: Sequence[str]) -> list[int]:
        """Per term: distinct authors over all of ``buckets`` together."""
        ...

    async def peaks(self) -> dict[str, Peak]: ...

    async def publish(self, trends: Sequence[Trend], peaks: dict[str, Peak]) -> None: ...

    async def current(self) -> list[Trend]: ...

    async def claim(self, seconds: float) -> bool:
        """True for one caller per ``seconds`` (one replica recomputes)."""
        ...


class TrendService:
    def __init__(
        self, store: TrendStore, params: TrendParams, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._params = params
        self._clock = clock

    async def record(self, tweets: Sequence[tuple[int, int, float, str, Sequence[str]]]) -> None:
        """Counts new tweets ``(id, author id, created seconds, text, hashtags)``."""
        await self._store.record(
            [
                (tweet_id, author_id, self._params.bucket(created), terms(text, tags))
                for tweet_id, author_id, created, text, tags in tweets
            ]
        )

    async def recompute(self) -> list[Trend]:
        """Scores the terms used by at least ``min_authors`` in the window (and those still
        holding a peak) and publishes the trends. Cheap bounds first: the per-bucket author
        counts summed over the window bound the window's distinct authors from above, so the
        exact (costlier) distinct count runs only for the ``MAX_CANDIDATES`` best bounds."""
        params, store = self._params, self._store
        now = self._clock()
        last = params.bucket(now)
        window = range(last - params.window_buckets + 1, last + 1)
        baseline = range(window.start - params.baseline_buckets, window.start)
        peaks = await store.peaks()
        sums = await store.frequent(window, params.min_authors, MAX_SCANNED)
        history = dict(zip(sums, await store.author_sums(baseline, list(sums)), strict=True))
        bounds = {
            term: score(TermCounts(term, total, 0, history[term]), params)
            for term, total in sums.items()
        }
        best = sorted((t for t in bounds if bounds[t] > 0), key=lambda t: -bounds[t])
        terms = list(dict.fromkeys([*best[:MAX_CANDIDATES], *peaks]))
        missing = [t for t in terms if t not in history]
        history.update(zip(missing, await store.author_sums(baseline, missing), strict=True))
        authors = await store.distinct_authors(window, terms)
        tweets = await store.tweet_sums(window, terms)
        counts = [
            TermCounts(term, authors[i], tweets[i], history[term]) for i, term in enumerate(terms)
        ]
        trends, kept = rank(counts, peaks, now, params)
        await store.publish(trends, kept)
        return trends

    async def page(self, size: int, token: str) -> tuple[list[Trend], str]:
        bound = fingerprint("trends")
        offset = decode_int(token, bound, 0) or 0
        trends = await self._store.current()
        more = len(trends) > offset + size
        return trends[offset : offset + size], encode_token(bound, 0, offset + size) if more else ""
