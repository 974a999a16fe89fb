"""A deleted account's erasure (``TweetService.erase_account``) against the real Cassandra, Redis
and stream: other people's counts corrected, the events published, no row of the account left
in any table, a second run changing nothing, and an interrupted run finished by the next."""

from __future__ import annotations

from collections.abc import AsyncIterator, Container, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pytest
from cassandra.cluster import Session
from chirp.events.v1.tweet_events_pb2 import (
    TweetDeletedEvent,
    TweetLikedEvent,
    TweetUnlikedEvent,
    TweetUnretweetedEvent,
)
from redis.asyncio import Redis

from services.platform.caches.tweet_cache import tweet_key
from services.platform.cql import execute
from services.platform.errors import NotFound
from services.platform.ids import IdGenerator, leased_snowflake
from services.platform.outbox import CassandraOutboxStore, Outbox, OutboxRelay, running_relay
from services.platform.resp import RespClient
from services.platform.settings import StoreSettings
from services.platform.subjects import Event
from services.tweets.adapters.cache import RedisTweetCache, RedisUserTimelines
from services.tweets.adapters.store import CassandraTweetStore
from services.tweets.model import Attachment, Author, Counts
from services.tweets.ports import TweetStore
from services.tweets.service import Draft, TweetService, now_ms
from services.tweets.timeline import bucket_of, read_slice
from tests.integration.streams import Received
from tests.integration.tweets.events import watching
from tests.integration.tweets.tokens import random_user_id
from tests.limiting import CountingLimiter

M = TypeVar("M", bound=Event)


class Directory:
    """The users service as these tests need it (a running one is not part of them): every
    account exists, named ``u<id>``, so tweets are cached as a running service caches them."""

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Author]:
        return {user_id: Author(user_id, f"u{user_id}") for user_id in ids}

    async def id_of(self, username: str) -> int | None:
        return int(username[1:]) if username[1:].isdigit() else None

    async def by_usernames(self, usernames: Sequence[str]) -> dict[str, Author]:
        found = {name: await self.id_of(name) for name in usernames}
        return {name: Author(i, name) for name, i in found.items() if i is not None}


class Photos:
    """The media service as these tests need it: every photo exists and is the poster's."""

    async def attach(
        self, tweet_id: int, owner_id: int, media_ids: Sequence[int]
    ) -> list[Attachment]:
        return [Attachment(i, owner_id, _url(i), tweet_id=tweet_id) for i in media_ids]

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Attachment]:
        return {i: Attachment(i, url=_url(i)) for i in ids}


def _url(media_id: int) -> str:
    return f"https://media.test/{media_id}"


class Interrupted(Exception):
    """Stands for a crash: the erasure stops where it was."""


class Interrupting:
    """The real store, raising ``Interrupted`` right after the ``nth`` call of ``method`` has done
    its work (a process dying between two steps)."""

    def __init__(self, store: TweetStore, method: str, nth: int) -> None:
        self._store = store
        self._method = method
        self._left = nth

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name != self._method:
            return attribute

        async def then_interrupted(*args: Any, **kwargs: Any) -> Any:
            result = await attribute(*args, **kwargs)
            self._left -= 1
            if self._left == 0:
                raise Interrupted(f"after call {name} of the erasure")
            return result

        return then_interrupted


@dataclass
class Stack:
    session: Session
    store: CassandraTweetStore
    cache: RedisTweetCache
    timelines: RedisUserTimelines
    ids: IdGenerator

    def service(
        self, store: TweetStore | None = None, deleted: Container[int] = frozenset()
    ) -> TweetService:
        return TweetService(
            store or self.store,
            self.cache,
            self.timelines,
            Directory(),
            Photos(),
            self.ids,
            CountingLimiter(),
            deleted=deleted,
        )


@pytest.fixture
async def stack(session: Session, resp: RespClient) -> AsyncIterator[Stack]:
    """What a tweets process runs on, its outbox relay publishing to the stream."""
    outbox = Outbox(session)
    relay = OutboxRelay(CassandraOutboxStore(session, outbox), outbox, StoreSettings().nats_url)
    async with leased_snowflake(resp) as ids, running_relay(relay):
        yield Stack(
            session,
            CassandraTweetStore(session, outbox),
            RedisTweetCache(resp),
            RedisUserTimelines(resp),
            ids,
        )


@dataclass(frozen=True)
class World:
    """The erased account ``user`` and two others, ``ann`` and ``bob``, who each posted a tweet
    (``anns``, ``bobs``). The account posted ``edited`` (edited once), ``reply`` (to ``anns``)
    and ``popular`` (liked by ann, retweeted by bob as ``bobs_retweet``, replied to by ann as
    ``anns_answer``; it has a photo) and ``thread`` (a reply to ``popular``), retweeted ``bobs``
    as ``retweet`` and liked ``anns``, ``bobs`` and its own ``popular``."""

    user: int
    ann: int
    bob: int
    anns: int
    bobs: int
    edited: int
    reply: int
    popular: int
    thread: int
    retweet: int
    bobs_retweet: int
    anns_answer: int

    @property
    def originals(self) -> tuple[int, ...]:
        return self.edited, self.reply, self.popular, self.thread

    @property
    def tweets(self) -> tuple[int, ...]:
        return *self.originals, self.retweet


async def _world(service: TweetService) -> World:
    user, ann, bob = random_user_id(), random_user_id(), random_user_id()
    anns = (await service.create(ann, Draft("ann's"))).id
    bobs = (await service.create(bob, Draft("bob's"))).id
    edited = (await service.create(user, Draft("first words"))).id
    await service.edit(user, edited, "second words", ["text"])
    reply = (await service.create(user, Draft("a reply", reply_to_id=anns))).id
    popular = (await service.create(user, Draft("popular", media_ids=(user + 1,)))).id
    await service.like(ann, popular)
    bobs_retweet = (await service.retweet(bob, popular)).id
    anns_answer = (await service.create(ann, Draft("an answer", reply_to_id=popular))).id
    thread = (await service.create(user, Draft("and more", reply_to_id=popular))).id
    retweet = (await service.retweet(user, bobs)).id
    for liked in (anns, bobs, popular):
        await service.like(user, liked)
    world = World(
        user=user,
        ann=ann,
        bob=bob,
        anns=anns,
        bobs=bobs,
        edited=edited,
        reply=reply,
        popular=popular,
        thread=thread,
        retweet=retweet,
        bobs_retweet=bobs_retweet,
        anns_answer=anns_answer,
    )
    # Cached as readers left them: the others' tweets with their counts, the timeline's ids.
    assert (await service.views([anns]))[anns].counts == Counts(likes=1, replies=1)
    assert (await service.views([bobs]))[bobs].counts == Counts(likes=1, retweets=1)
    assert len((await service.user_tweets("me", user, 20, "")).items) == 5
    return world


def _about(event: Event, world: World) -> bool:
    """Whether an event names the erased account or one of its tweets (the stream carries
    other tests' events too)."""
    people = {getattr(event, field, None) for field in ("user_id", "author_id", "tweet_author_id")}
    tweets = {getattr(event, field, None) for field in ("tweet_id", "retweet_id")}
    return world.user in people or not tweets.isdisjoint(world.tweets)


async def _one(received: Received, kind: type[M], field: str, value: int) -> M:
    """The one event of ``kind`` whose ``field`` is ``value``, once it came."""
    (event,) = await received.wait_for(kind, lambda e: getattr(e, field) == value)
    return event


async def _rows(session: Session, query: str, *parameters: object) -> list[Any]:
    return list(await execute(session, query, parameters))


async def _left(session: Session, world: World) -> dict[str, list[Any]]:
    """Every row of the erased account still stored, by table (queried directly)."""
    user, originals = world.user, world.originals
    left: dict[str, list[Any]] = {}
    keyed_by_tweet = {
        "tweets": "SELECT * FROM tweets WHERE id = %s",
        "tweet_versions": "SELECT * FROM tweet_versions WHERE tweet_id = %s",
        "tweet_counters": "SELECT * FROM tweet_counters WHERE tweet_id = %s",
        "tweet_likers": "SELECT * FROM tweet_likers WHERE tweet_id = %s",
        "tweet_retweets": "SELECT * FROM tweet_retweets WHERE tweet_id = %s",
        "tweet_replies": "SELECT * FROM tweet_replies WHERE parent_id = %s",
    }
    for table, query in keyed_by_tweet.items():
        left[table] = [row for i in world.tweets for row in await _rows(session, query, i)]
    left["user_tweets"] = [
        row
        for bucket in {bucket_of(i) for i in world.tweets}
        for row in await _rows(
            session, "SELECT * FROM user_tweets WHERE user_id = %s AND bucket = %s", user, bucket
        )
    ]
    for table in ("user_tweet_buckets", "user_counters", "user_likes"):
        query = f"SELECT * FROM {table} WHERE user_id = %s"  # noqa: S608  (this test's names)
        left[table] = await _rows(session, query, user)
    left["likes of others' tweets"] = [
        row
        for liked in (world.anns, world.bobs)
        for row in await _rows(session, "SELECT * FROM tweet_likers WHERE tweet_id = %s", liked)
        if row.user_id == user
    ]
    claims = [(t, "like") for t in (world.anns, world.bobs, *originals)]
    left["engagement_claims"] = [
        row
        for tweet_id, kind in [*claims, (world.bobs, "retweet")]
        for row in await _rows(
            session,
            "SELECT * FROM engagement_claims WHERE tweet_id = %s AND user_id = %s AND kind = %s",
            tweet_id,
            user,
            kind,
        )
    ]
    return {table: rows for table, rows in left.items() if rows}


async def _assert_erased(stack: Stack, world: World, redis: Redis) -> None:
    """The account is gone from every store, and the others' tweets and counts are as if it
    had never liked, retweeted or replied."""
    assert await _left(stack.session, world) == {}
    service = stack.service()
    for tweet_id in world.tweets:
        with pytest.raises(NotFound):
            await service.get(tweet_id)
        assert await redis.get(tweet_key(tweet_id)) in {b"", None}  # buried, or forgotten
    # Neither the kept timeline ids nor anything else of this service's keyed by the account
    # (another service's keys made from the events, as a running timelines' fanout makes, are
    # that service's to erase).
    mine = f"chirp:tweets:*{world.user}*"
    assert [key async for key in redis.scan_iter(match=mine, count=1000)] == []
    # The others' tweets, read through the cache, with their counts corrected.
    views = await service.views([world.anns, world.bobs, world.anns_answer, world.bobs_retweet])
    assert views[world.anns].counts == Counts()
    assert views[world.bobs].counts == Counts()
    assert views[world.anns_answer].tweet.reply_to_id == world.popular
    assert world.bobs_retweet not in views  # undone with the tweet it retweeted
    counts = await stack.store.user_tweet_counts([world.ann, world.bob, world.user])
    assert counts == {world.ann: 2, world.bob: 1}
    assert (await read_slice(stack.store, world.bob, limit=10)).ids == [world.bobs]


async def test_an_erasure_undoes_and_erases_everything_of_the_account(
    stack: Stack, redis: Redis
) -> None:
    service = stack.service()
    world = await _world(service)
    async with watching() as received:
        await service.erase_account(world.user, now_ms())
        parents = {world.edited: 0, world.reply: world.anns, world.popular: 0}
        for deleted, parent in {**parents, world.thread: world.popular}.items():
            event = await _one(received, TweetDeletedEvent, "tweet_id", deleted)
            assert (event.author_id, event.reply_to_id) == (world.user, parent)
        unretweeted = await _one(received, TweetUnretweetedEvent, "retweet_id", world.retweet)
        assert (unretweeted.tweet_id, unretweeted.user_id) == (world.bobs, world.user)
        assert (unretweeted.tweet_author_id, unretweeted.retweet_count) == (world.bob, 0)
        undone = await _one(received, TweetUnretweetedEvent, "retweet_id", world.bobs_retweet)
        assert (undone.tweet_id, undone.user_id) == (world.popular, world.bob)
        for liked, author in ((world.anns, world.ann), (world.bobs, world.bob)):
            unliked = await _one(received, TweetUnlikedEvent, "tweet_id", liked)
            assert (unliked.user_id, unliked.tweet_author_id, unliked.like_count) == (
                world.user,
                author,
                0,
            )
    await _assert_erased(stack, world, redis)


async def test_the_recent_ids_of_an_erased_account_asked_later_are_not_kept(
    stack: Stack, redis: Redis
) -> None:
    world = await _world(stack.service())
    await stack.service().erase_account(world.user, now_ms())
    # As the timelines service asks when it handles the account's unfollows after this.
    erased = stack.service(deleted={world.user})
    assert await erased.recent_ids([world.user], None, 20) == []
    mine = f"chirp:tweets:*{world.user}*"
    assert [key async for key in redis.scan_iter(match=mine, count=1000)] == []


async def test_a_second_erasure_finds_nothing_and_changes_nothing(
    stack: Stack, redis: Redis
) -> None:
    service = stack.service()
    world = await _world(service)
    await service.erase_account(world.user, now_ms())
    marker = (world.ann, world.bobs)
    async with watching() as received:
        # The relay publishes events in the order they were written: once a like by ann is
        # seen, every event written before it was, and once her unlike is, every event
        # written between the two.
        await service.like(world.ann, world.bobs)
        await received.wait_for(TweetLikedEvent, lambda e: (e.user_id, e.tweet_id) == marker)
        received.events.clear()
        await service.erase_account(world.user, now_ms())
        await service.unlike(world.ann, world.bobs)
        await received.wait_for(TweetUnlikedEvent, lambda e: (e.user_id, e.tweet_id) == marker)
        assert [e for e in received.events if _about(e, world)] == []
    await _assert_erased(stack, world, redis)


@pytest.mark.parametrize(
    ("method", "nth"),
    [
        ("erase_like", 2),  # a like's rows and event written, the next step not taken
        ("remove", 1),  # the account's retweet's batch written, not yet marked or uncounted
        ("remove", 3),  # an original's delete batch written, not yet marked deleted
        ("retweets_of", 1),  # an original marked deleted, its retweets not yet undone
        ("erase", 2),  # some tweets erased, others not
        ("erase", 5),  # every tweet erased, the account's own rows not yet
    ],
)
async def test_an_interrupted_erasure_is_finished_by_the_next_run(
    stack: Stack, redis: Redis, method: str, nth: int
) -> None:
    world = await _world(stack.service())
    interrupting = cast("TweetStore", Interrupting(stack.store, method, nth))
    with pytest.raises(Interrupted):
        await stack.service(interrupting).erase_account(world.user, now_ms())
    assert await _left(stack.session, world) != {}
    await stack.service().erase_account(world.user, now_ms())
    await _assert_erased(stack, world, redis)
