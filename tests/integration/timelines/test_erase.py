"""A deleted account leaves the timelines' Redis: the fanout worker's ``users.deleted`` with the
``graph.unfollowed`` graph publishes for each of its follows, in either order, against the real
Redis (graph and tweets in memory: their own erasures are theirs)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from chirp.events.v1 import graph_events_pb2, user_events_pb2
from redis.asyncio import Redis

from services.platform.resp import RespClient
from services.timelines.adapters.store import (
    FORGOTTEN_SECONDS,
    RedisIdLists,
    RedisTimelineStore,
    member,
)
from services.timelines.consumers.fanout import FanoutWorker
from services.timelines.service import TimelineService
from tests.integration.timelines.support import SETTINGS
from tests.integration.tweets.tokens import random_user_id
from tests.unit.timelines.fakes import MemoryGraph, MemoryLive, MemoryTweets

THRESHOLD = 2


@dataclass
class World:
    """``gone`` (a celebrity: three followers, ``reader`` among them) follows ``author``, as
    ``reader`` does; ``gone`` posted and retweeted ``author`` while it had fewer followers, so
    both entries were fanned out to ``reader``."""

    service: TimelineService
    worker: FanoutWorker
    graph: MemoryGraph
    tweets: MemoryTweets
    gone: int
    reader: int
    author: int
    author_tweet: int
    gone_tweets: tuple[int, int]

    def deleted(self) -> user_events_pb2.UserDeletedEvent:
        event = user_events_pb2.UserDeletedEvent(event_id="erase", user_id=self.gone)
        event.occur_time.GetCurrentTime()
        return event

    def erase_elsewhere(self) -> list[graph_events_pb2.UserUnfollowedEvent]:
        """What the tweets and graph services do: the account's tweets erased, its follows
        dropped, each with the ``graph.unfollowed`` graph publishes for it."""
        self.tweets.deleted.update(self.gone_tweets)
        follows = {edge for edge in self.graph.follows if self.gone in edge}
        self.graph.follows -= follows
        return [
            graph_events_pb2.UserUnfollowedEvent(follower_id=follower, followee_id=followee)
            for follower, followee in sorted(follows)
        ]

    async def shown(self, user_id: int) -> list[int]:
        return [tweet.id for tweet in (await self.service.page(user_id, 20, "")).items]


@pytest.fixture
async def world(resp: RespClient) -> World:
    gone, reader, author, *fans = (random_user_id() for _ in range(5))
    graph = MemoryGraph({(reader, gone), *((fan, gone) for fan in fans), (gone, author)})
    graph.follows.add((reader, author))
    tweets = MemoryTweets()
    author_tweet, gone_tweet, gone_retweet = sorted(random_user_id() for _ in range(3))
    tweets.post(author_tweet, author)
    tweets.post(gone_tweet, gone)
    tweets.post(gone_retweet, gone, retweet_of=author_tweet)
    store = RedisTimelineStore(resp, length=800, active_seconds=600)
    service = TimelineService(
        store, graph, tweets, MemoryLive(), celebrity_threshold=THRESHOLD, length=800
    )
    worker = FanoutWorker(SETTINGS.nats_url, service, grace_seconds=0)
    world = World(
        service,
        worker,
        graph,
        tweets,
        gone,
        reader,
        author,
        author_tweet,
        (gone_tweet, gone_retweet),
    )
    # The last follow made ``gone`` a celebrity; both read (rebuilt, their followed celebrities
    # kept); ``gone``'s entries were fanned out to the reader before; both post (their
    # followers kept). The retweet shows in place of its original.
    await service.followed(fans[-1], gone)
    for user in (gone, reader):
        assert await world.shown(user) == [gone_retweet, gone_tweet]
    await store.push([reader], [gone_tweet, gone_retweet])
    await service.fan_out(author_tweet, author)
    await service.fan_out(gone_tweet, gone)
    return world


async def _kept_of(redis: Redis, world: World) -> list[str]:
    """Everything of ``gone`` in the timelines' keys: a key of its own, its id in the
    celebrities or in a kept list, its tweets in a home timeline."""
    found: list[str] = []
    tweet_members = [member(tweet_id) for tweet_id in world.gone_tweets]
    async for key in redis.scan_iter(match="chirp:timelines:*", count=1000):
        name = key.decode()
        if name.endswith(f":{world.gone}"):
            found.append(name)
        kind = await redis.type(key)
        if kind == b"set" and await redis.sismember(key, str(world.gone)):
            found.append(f"{name} has the account")
        elif kind == b"zset" and any(
            score is not None for score in await redis.zmscore(key, tweet_members)
        ):
            found.append(f"{name} has its tweets")
        elif kind == b"string":
            ids, _ = RedisIdLists.parse(await redis.get(key))
            if ids and world.gone in ids:
                found.append(f"{name} lists the account")
    return found


async def test_nothing_of_the_account_is_left_once_its_unfollows_and_deletion_are_handled(
    world: World, redis: Redis
) -> None:
    gone, reader, author = world.gone, world.reader, world.author
    assert sorted(await _kept_of(redis, world)) == sorted(  # everything the checks look for
        [
            f"chirp:timelines:home:{gone}",
            f"chirp:timelines:home:{gone} has its tweets",
            f"chirp:timelines:celebrities-followed:{gone}",
            f"chirp:timelines:followers:{gone}",
            "chirp:timelines:celebrities has the account",
            f"chirp:timelines:home:{reader} has its tweets",
            f"chirp:timelines:celebrities-followed:{reader} lists the account",
            f"chirp:timelines:followers:{author} lists the account",
        ]
    )
    for unfollowed in world.erase_elsewhere():
        assert await world.worker.apply(unfollowed)
    for _ in range(2):  # a redelivery finds nothing more to do
        assert await world.worker.apply(world.deleted())
    # Graph's unfollows came after the tweets were erased: ``gone``'s entries were found in no
    # follower's timeline; the reader's next read takes them out.
    assert await world.shown(world.reader) == [world.author_tweet]
    assert await _kept_of(redis, world) == []


async def test_unfollows_handled_after_the_deletion_leave_only_short_lived_empty_marks(
    world: World, redis: Redis
) -> None:
    unfollows = world.erase_elsewhere()
    assert await world.worker.apply(world.deleted())
    kept = await _kept_of(redis, world)
    assert not [key for key in kept if key.endswith(f":{world.gone}")]  # its own keys: gone
    assert f"chirp:timelines:celebrities-followed:{world.reader} lists the account" in kept
    for unfollowed in unfollows:
        assert await world.worker.apply(unfollowed)
    assert await world.shown(world.reader) == [world.author_tweet]
    left = await _kept_of(redis, world)
    assert sorted(left) == sorted(
        f"chirp:timelines:{lists}:{world.gone}" for lists in ("celebrities-followed", "followers")
    )
    for key in left:
        assert RedisIdLists.parse(await redis.get(key))[0] is None  # a mark: no list
        assert 0 < await redis.ttl(key) <= FORGOTTEN_SECONDS
