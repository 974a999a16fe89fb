"""The search domain: tweet and user searches, applying events to the indexes, rebuilds.

Events are notices that something changed, not the new state: the indexer reads the current
state of every tweet or user a batch of events touched from its owning service
(``BatchGetTweets``, ``BatchGetUsers`` and ``BatchGetFollowCounts``) and writes that. So
redelivered, duplicated or reordered events (an old ``tweets.created`` redelivered after an
edit, a like counted before the tweet arrived) always leave the index equal to the store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Container, Iterable, Sequence

import structlog
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2

from services.platform.caches.tweet_cache import ReadyTweet
from services.platform.errors import Aborted, InvalidArgument
from services.platform.paging import PUBLIC_TIMELINE, decode_int, encode_token
from services.search.model import Candidate, Changes
from services.search.ports import Graph, TweetIndex, Tweets, UserIndex, Users
from services.search.query import TweetQuery, fingerprint, parse

log = structlog.get_logger()

#: ``top``: recency halves a tweet's weight every this many hours.
RECENCY_HALF_LIFE_HOURS = 24.0
MAX_USER_QUERY_LENGTH = 100
#: User search pages reach this deep (a list ranked by followers is re-read for each page).
MAX_USER_RESULTS = 1000


def top_score(candidate: Candidate, now_ms: int) -> float:
    """BM25 relevance x engagement x recency:
    ``relevance * (1 + ln(1 + likes + 2 * retweets + replies)) * 0.5 ** (age_hours / 24)``."""
    engagement = candidate.likes + 2 * candidate.retweets + candidate.replies
    age_hours = max(now_ms - candidate.created_ms, 0) / 3_600_000
    recency = 0.5 ** (age_hours / RECENCY_HALF_LIFE_HOURS)
    return float(candidate.relevance * (1 + math.log1p(max(engagement, 0))) * recency)


def rank_top(candidates: Sequence[Candidate], now_ms: int) -> list[int]:
    """Ids best first; among equal scores, newer (higher id) first."""
    ranked = sorted(candidates, key=lambda c: (top_score(c, now_ms), c.tweet_id), reverse=True)
    return [c.tweet_id for c in ranked]


def parse_order(order: str) -> str:
    normalized = order.strip().lower() or "latest"
    if normalized not in ("latest", "top"):
        raise InvalidArgument.field("order", 'must be "latest" or "top" (or empty for latest)')
    return normalized


def _originals(tweets: Sequence[tweet_pb2.Tweet]) -> list[tweet_pb2.Tweet]:
    """Retweets have no text of their own and are not indexed as tweets."""
    return [t for t in tweets if not t.HasField("retweet_of")]


def _without_mentions_of(
    tweets: Sequence[tweet_pb2.Tweet], erased: Container[int]
) -> list[tweet_pb2.Tweet]:
    """``tweets``, those that mention deleted accounts copied without those mentions (the text
    keeps its words)."""
    return [
        _without_mentions(t, erased) if any(m.user_id in erased for m in t.entities.mentions) else t
        for t in tweets
    ]


def _without_mentions(tweet: tweet_pb2.Tweet, erased: Container[int]) -> tweet_pb2.Tweet:
    copy = tweet_pb2.Tweet()
    copy.CopyFrom(tweet)
    del copy.entities.mentions[:]
    copy.entities.mentions.extend(m for m in tweet.entities.mentions if m.user_id not in erased)
    return copy


class SearchService:
    def __init__(  # noqa: PLR0913, PLR0917  (two indexes, one port per service it reads)
        self,
        tweet_index: TweetIndex,
        user_index: UserIndex,
        tweets: Tweets,
        users: Users,
        graph: Graph,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tweet_index = tweet_index
        self._user_index = user_index
        self._tweets = tweets
        self._users = users
        self._graph = graph
        self._clock = clock
        self._rebuilding = False

    async def search_tweets(
        self, q: str, order: str, size: int, token: str
    ) -> tuple[list[ReadyTweet], str]:
        query = parse(q)
        order = parse_order(order)
        bound = fingerprint("tweets", q, order)
        cursor = decode_int(token, bound, 0)
        if order == "latest":
            ids = await self._tweet_index.latest(query, cursor, size + 1)
            more = len(ids) > size
            ids = ids[:size]
            next_token = encode_token(bound, 0, ids[-1]) if more else ""
        else:
            offset = cursor or 0
            ranked = rank_top(await self._tweet_index.candidates(query), int(self._clock() * 1000))
            ids = ranked[offset : offset + size]
            next_token = (
                encode_token(bound, 0, offset + size) if len(ranked) > offset + size else ""
            )
        return await self._hydrate(ids), next_token

    async def public(self, size: int, token: str) -> tuple[list[ReadyTweet], str]:
        """Everyone's newest tweets, newest first, paged by the last id shown."""
        cursor = decode_int(token, PUBLIC_TIMELINE, 0)
        ids = await self._tweet_index.latest(TweetQuery(()), cursor, size + 1)
        next_token = encode_token(PUBLIC_TIMELINE, 0, ids[size - 1]) if len(ids) > size else ""
        return await self._hydrate(ids[:size]), next_token

    async def _hydrate(self, ids: Sequence[int]) -> list[ReadyTweet]:
        """In the given order, ready to send; tweets deleted since they were indexed (and any
        retweet, which is not indexed as a tweet) are left out."""
        return [t for t in await self._tweets.ready(ids) if t.original_id == t.id]

    async def search_users(self, q: str, size: int, token: str) -> tuple[list[user_pb2.User], str]:
        text = q.strip().removeprefix("@")
        if not text.strip():
            raise InvalidArgument.field("q", "is required: a username or name to look for")
        if len(q) > MAX_USER_QUERY_LENGTH:
            raise InvalidArgument.field("q", f"must be at most {MAX_USER_QUERY_LENGTH} characters")
        bound = fingerprint("users", text.lower())
        offset = decode_int(token, bound, 0) or 0
        limit = min(offset + size + 1, MAX_USER_RESULTS)
        ids = (await self._user_index.search(text.split(), limit))[offset:]
        more = len(ids) > size and offset + size < MAX_USER_RESULTS
        ids = ids[:size]
        found = {u.id: u for u in await self._users.batch_get(ids)}
        users = [found[i] for i in ids if i in found]
        return users, encode_token(bound, 0, offset + size) if more else ""

    async def apply(self, changes: Changes) -> None:
        """Brings every tweet and user a batch of events touched up to date in the indexes
        (visible after ``commit``); idempotent.

        A deleted account leaves both indexes at once: its user document, its tweets (one
        delete by the author term), and its mentions in others' tweets (those are read again
        and indexed without them, so ``@name`` finds nothing of it, nor later of whoever
        registers the name once it is free). Events about it that come after find it gone from
        its owners: the users service no longer answers the account, nor the tweets service
        its tweets once erased (each erasure publishes ``tweets.deleted``)."""
        erased = changes.deleted_users
        names = [name for name in erased.values() if name]
        mentioning = await self._tweet_index.mentioning(names) if names else []
        refresh = sorted((changes.tweets | set(mentioning)) - changes.deleted_tweets)
        if refresh or changes.deleted_tweets or erased:
            current = _originals(await self._tweets.batch_get(refresh))
            present = {t.id for t in current}
            gone = changes.deleted_tweets | (set(refresh) - present)
            await self._tweet_index.upsert(_without_mentions_of(current, erased), gone, erased)
        if changes.users or erased:
            await self._index_users(sorted(changes.users - erased.keys()), erased.keys())

    async def _index_users(self, ids: Sequence[int], erased: Iterable[int] = ()) -> None:
        users = await self._users.batch_get(ids) if ids else []
        counts = await self._graph.follower_counts([u.id for u in users]) if users else {}
        await self._user_index.upsert(
            [(u, counts.get(u.id, 0)) for u in users],
            (set(ids) - {u.id for u in users}) | set(erased),
        )

    async def commit(self) -> None:
        await self._tweet_index.commit()
        await self._user_index.commit()

    async def rebuild(self) -> tuple[int, int]:
        """Rebuilds both indexes from the tweets and users stores and swaps them in; events
        keep being applied to the old and new indexes meanwhile. ABORTED if one is running."""
        if self._rebuilding:
            raise Aborted("a rebuild of the search indexes is already running")
        self._rebuilding = True
        try:
            await self._tweet_index.begin_rebuild()
            await self._user_index.begin_rebuild()
            tweet_count = user_count = 0
            async for batch in self._tweets.stream():
                originals = _originals(batch)
                tweet_count += await self._tweet_index.add_rebuilt(originals)
            async for users in self._users.stream():
                counts = await self._graph.follower_counts([u.id for u in users])
                user_count += await self._user_index.add_rebuilt(
                    [(u, counts.get(u.id, 0)) for u in users]
                )
            await self._tweet_index.finish_rebuild()
            await self._user_index.finish_rebuild()
        except BaseException:
            await self._tweet_index.abandon_rebuild()
            await self._user_index.abandon_rebuild()
            raise
        finally:
            self._rebuilding = False
        return tweet_count, user_count
