"""The tweet cache as its readers see it: tweets by id, serialized and ready to send.

The tweets service owns the cache and writes it (``services/tweets/adapters/cache.py`` says
when); the timelines and search services read it too, so a home page or a search calls the
tweets service only for what is missing. The contract:

* ``chirp:tweets:tweet:{<id>}`` holds a serialized ``chirp.tweets.v1.Tweet``, hydrated: author in
  the BASIC view, text, entities, photos, times and counts as of when it was written. A retweet
  is stored with ``retweet_of`` holding only the original's id: its original (and the original's
  counts) live in the original's own entry.
* An empty value is a tombstone: the tweet is deleted. A missing key says nothing.

``read_ready`` answers a list of ids in two round trips at most (the entries, then the
originals of retweets not among them), decoding each entry only to learn whether it is a
retweet (upb, in C: about a microsecond) and never re-encoding: a retweet is its bytes with its
original's put in as field 7 (``retweet_of``) in place of the id there.
``ReadyTweets`` is the readers' adapter: the cache first, ``TweetsService.BatchGetTweets`` for
what it misses (which fills it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
import structlog
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2, tweets_service_pb2_grpc
from redis.exceptions import RedisError

from services.platform import metrics, wire
from services.platform.resp import RespClient

TOMBSTONE = b""
#: ``chirp.tweets.v1.Tweet.retweet_of``
RETWEET_OF_FIELD = 7

log = structlog.get_logger()


def tweet_key(tweet_id: int) -> str:
    return f"chirp:tweets:tweet:{{{tweet_id}}}"


def generation_key(tweet_id: int) -> str:
    """How often the tweet's entry was dropped (the tweets service's fills check it); in the
    entry's hash slot, as the hash tag says."""
    return f"chirp:tweets:generation:{{{tweet_id}}}"


@dataclass(frozen=True, slots=True)
class ReadyTweet:
    """A readable tweet, serialized; a retweet with its original in it."""

    id: int
    #: The id the tweet shows: its own, or the retweeted original's.
    original_id: int
    data: bytes


@dataclass
class CacheLookup:
    ready: dict[int, ReadyTweet] = field(default_factory=dict)
    #: Deleted, or retweets of deleted tweets: not to be shown, nor asked for.
    gone: set[int] = field(default_factory=set)
    #: Not in the cache (or a retweet whose original is not): ask the tweets service.
    missing: list[int] = field(default_factory=list)


async def read_ready(redis: RespClient, ids: Sequence[int]) -> CacheLookup:
    """What the cache holds of ``ids``; when Redis fails, everything is missing."""
    unique = list(dict.fromkeys(ids))
    lookup = CacheLookup()
    try:
        values, originals = await _entries(redis, unique)
    except RedisError:
        log.warning("tweet cache read failed; asking the tweets service", exc_info=True)
        lookup.missing = unique
        return lookup
    for tweet_id in unique:
        value = values[tweet_id]
        original_id = originals.get(tweet_id, tweet_id)
        original = values[original_id]
        if TOMBSTONE in {value, original}:
            lookup.gone.add(tweet_id)
        elif value is None or original is None:
            lookup.missing.append(tweet_id)
        elif original_id == tweet_id:
            lookup.ready[tweet_id] = ReadyTweet(tweet_id, tweet_id, value)
        else:
            data = wire.with_field(value, RETWEET_OF_FIELD, original)
            lookup.ready[tweet_id] = ReadyTweet(tweet_id, original_id, data)
    metrics.looked_up("tweets", len(unique) - len(lookup.missing), len(lookup.missing))
    return lookup


async def _entries(
    redis: RespClient, ids: list[int]
) -> tuple[dict[int, bytes | None], dict[int, int]]:
    """The entries of ``ids`` and of the originals of the retweets among them (None where
    there is none), and the original id of each retweet."""
    values: dict[int, bytes | None] = {}
    originals: dict[int, int] = {}
    wanted = ids
    while wanted:
        found = await redis.call("MGET", *map(tweet_key, wanted))
        for tweet_id, entry in zip(wanted, found, strict=True):
            value = values[tweet_id] = entry if isinstance(entry, bytes) else None
            if value and (original := tweet_pb2.Tweet.FromString(value).retweet_of.id):
                originals[tweet_id] = original
        # Originals are never retweets themselves, so this goes round twice at most.
        wanted = [i for i in dict.fromkeys(originals.values()) if i not in values]
    return values, originals


#: BatchGetTweets takes at most this many ids.
BATCH = 100


class ReadyTweets:
    """Readable tweets, ready to send: from the cache itself, and from the tweets service only
    what the cache misses."""

    def __init__(self, redis: RespClient, channel: grpc.aio.Channel) -> None:
        self._redis = redis
        self._stub = tweets_service_pb2_grpc.TweetsServiceStub(channel)

    async def ready(self, ids: Sequence[int]) -> list[ReadyTweet]:
        """In request order; deleted and unknown ids (and retweets of deleted tweets) are left
        out."""
        lookup = await read_ready(self._redis, ids)
        found = lookup.ready
        for start in range(0, len(lookup.missing), BATCH):
            response = await self._stub.BatchGetTweets(
                tweets_service_pb2.BatchGetTweetsRequest(ids=lookup.missing[start : start + BATCH]),
            )
            found.update((tweet.id, ready_of(tweet)) for tweet in response.tweets)
        return [found[tweet_id] for tweet_id in dict.fromkeys(ids) if tweet_id in found]


def ready_of(tweet: tweet_pb2.Tweet) -> ReadyTweet:
    """A tweet that came as a message (from the tweets service), serialized."""
    original_id = tweet.retweet_of.id if tweet.HasField("retweet_of") else tweet.id
    return ReadyTweet(tweet.id, original_id, tweet.SerializeToString())
