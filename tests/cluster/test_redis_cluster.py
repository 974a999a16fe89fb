"""Chirp's Redis on a Redis Cluster (``devstack/redis_cluster.py``), as the cluster suite runs it:
``CHIRP_REDIS_URL`` is a ``redis+cluster://`` URL. Commands, pipelines, split MGETs and
transactions round-trip across the slots; every script of Chirp's runs through its adapter;
a live message published by a script on a master reaches a subscriber on a replica once; and a
failover (``CLUSTER FAILOVER``, graceful: the suite's nodes all stay up) is ridden out."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.platform.caches.user_timelines import KeptIds, RedisKeptTimelines
from services.platform.ids import leased_snowflake, timestamp_ms
from services.platform.ratelimit import Limit, RedisRateLimiter
from services.platform.redis_clients import is_cluster, pubsub_client, resp_client
from services.platform.resp import Resp, RespClient, Script
from services.platform.resp_cluster import Address, ClusterUrl, key_slot
from services.platform.settings import StoreSettings
from services.search.adapters.trend_store import RedisTrendStore
from services.search.trends import TrendService
from services.timelines.adapters.live import RedisLiveUpdates
from services.timelines.adapters.store import RedisTimelineStore, home_key
from services.timelines.model import LiveChange
from services.tweets.adapters.cache import RedisTweetCache
from services.users.adapters.cache import RedisUserCache
from services.users.model import User
from tests.integration.search.test_trends import PARAMS, START, Clock, Tweets
from tests.integration.tweets.test_cache import _view
from tests.integration.tweets.tokens import random_user_id
from tests.polling import eventually

pytestmark = pytest.mark.cluster

SETTINGS = StoreSettings()
BIG = 2**62


@pytest.fixture
async def resp() -> AsyncIterator[RespClient]:
    client = resp_client(SETTINGS.redis_url)
    yield client
    await client.aclose()


def _key() -> str:
    return f"test:cluster:{uuid.uuid4().hex}"


async def _serving(resp: RespClient, key: str) -> tuple[Address, list[Address]]:
    """The master and the replicas of ``key``'s slot, as the cluster says."""
    slot = key_slot(key)
    for start, end, *nodes in await resp.call("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            master, *replicas = [(host.decode(), port) for host, port, *_ in nodes]
            return master, replicas
    raise AssertionError(f"no node serves slot {slot}")


def test_the_settings_name_a_cluster() -> None:
    assert is_cluster(SETTINGS.redis_url)
    assert len(ClusterUrl.parse(SETTINGS.redis_url).seeds) >= 3


async def test_commands_pipelines_and_split_reads_round_trip_across_slots(
    resp: RespClient,
) -> None:
    keys = [_key() for _ in range(300)]
    masters = {(await _serving(resp, key))[0] for key in keys[:30]}
    assert len(masters) == 3  # they span every master
    assert (
        await resp.pipeline([("SET", k, i, "EX", 60) for i, k in enumerate(keys)]) == [b"OK"] * 300
    )
    replies = await asyncio.gather(*(resp.call("GET", key) for key in keys[::7]))
    assert replies == [str(i).encode() for i in range(0, 300, 7)]
    assert await resp.call("MGET", *reversed(keys), "absent") == [
        *(str(i).encode() for i in range(299, -1, -1)),
        None,
    ]
    assert await resp.call("EXISTS", *keys, "absent") == 300
    assert await resp.call("DEL", *keys) == 300
    assert await resp.call("PING") == b"PONG"


async def test_a_transaction_runs_on_its_slot(resp: RespClient) -> None:
    tag = uuid.uuid4().hex
    count, name = f"test:cluster:{{{tag}}}:count", f"test:cluster:{{{tag}}}:name"
    replies = await resp.pipeline(
        [
            ("MULTI",),
            ("INCR", count),
            ("SET", name, "ada", "EX", 60),
            ("EXPIRE", count, 60),
            ("EXEC",),
            ("MGET", count, name),
        ]
    )
    assert replies[-2:] == [[1, b"OK", 1], [b"1", b"ada"]]
    with pytest.raises(ValueError, match="hash slots"):
        await resp.pipeline([("MULTI",), ("INCR", _key()), ("INCR", _key()), ("EXEC",)])


async def test_a_script_unknown_to_the_nodes_is_loaded_where_it_runs(resp: RespClient) -> None:
    script = Script(f"return {{KEYS[1], ARGV[1], '{uuid.uuid4().hex}'}}")
    keys = [_key() for _ in range(30)]
    replies = await resp.run_each(script, [([key], [index]) for index, key in enumerate(keys)])
    assert [reply[:2] for reply in replies] == [
        [key.encode(), str(index).encode()] for index, key in enumerate(keys)
    ]
    with pytest.raises(ValueError, match="hash slots"):
        await resp.run(script, keys[:2], [])


async def test_the_tweet_cache_fills_and_forgets(resp: RespClient) -> None:
    cache = RedisTweetCache(resp)
    views = [_view(f"cached {i}") for i in range(20)]
    lease = await cache.lease([view.id for view in views])
    await cache.forget([views[0].id])  # changed after the lease: its fill is refused
    await cache.fill(views, [], lease)
    found = await cache.get([view.id for view in views])
    assert found == {view.id: view for view in views[1:]}
    lookup = await cache.ready([view.id for view in views])
    assert sorted(lookup.ready) == sorted(view.id for view in views[1:])
    assert lookup.missing == [views[0].id]
    await cache.bury([views[1].id])
    await cache.forget([view.id for view in views[2:]])
    assert await cache.get([view.id for view in views[:3]]) == {views[1].id: None}


async def test_kept_user_timeline_ids_are_written_in_place(resp: RespClient) -> None:
    kept = RedisKeptTimelines(resp)
    users = [random_user_id() for _ in range(10)]
    for user in users:
        await kept.keep(user, 0, KeptIds([BIG + 1], complete=True))
        await kept.wrote(user, BIG + 2)
    found, counts = await kept.get(users)
    assert found == {user: KeptIds([BIG + 2, BIG + 1], complete=True) for user in users}
    assert counts == dict.fromkeys(users, 1)


async def test_home_timelines_push_fill_and_remove_across_slots(resp: RespClient) -> None:
    store = RedisTimelineStore(resp, length=5, active_seconds=600)
    active = [random_user_id() for _ in range(200)]
    away = random_user_id()
    for user in active:
        await store.store(user, [BIG])
    assert await store.push([*active, away], [BIG + 1, BIG + 2]) == 200
    assert {
        tuple(ids) for ids, _ in await asyncio.gather(*(store.read(u, None, 9) for u in active))
    } == {(BIG + 2, BIG + 1, BIG)}
    await store.remove(active, [BIG + 1])
    assert await store.read(active[-1], None, 9) == ([BIG + 2, BIG], True)
    assert await store.read(away, None, 9) == ([], False)

    lists = store.celebrities_followed
    owners = active[:20]
    found, stamps = await lists.get(owners)
    assert found == {}
    await lists.fill({owner: [owner, BIG] for owner in owners}, stamps)
    assert (await lists.get(owners))[0] == {owner: [owner, BIG] for owner in owners}
    await lists.forget(owners[:1])
    kept, stamp, changes = await lists.kept(owners[0])
    assert (kept, stamp[:1], changes) == (None, b"!", 0)


async def test_rate_limits_count_in_one_round_trip(resp: RespClient) -> None:
    limiter = RedisRateLimiter(resp, Limit(f"test-{uuid.uuid4().hex}", "tests", 3, 60))
    usages = [await limiter.count(str(subject)) for subject in (1, 2, 1, 1, 1)]
    assert [usage.used for usage in usages] == [1, 1, 2, 3, 4]


async def test_worker_id_leases_renew_and_release(resp: RespClient) -> None:
    namespace = f"test:cluster:snowflake:{uuid.uuid4().hex}"
    async with leased_snowflake(resp, namespace, renew_every_ms=100) as generator:
        first = generator.next_id()
        await asyncio.sleep(0.3)  # renewed, with its high-water mark, a few times
        assert generator.next_id() > first
    assert abs(timestamp_ms(first) - datetime.now(UTC).timestamp() * 1000) < 60_000


async def test_trends_record_recompute_and_publish(resp: RespClient) -> None:
    store = RedisTrendStore(resp, PARAMS, prefix=f"test:cluster:trends:{uuid.uuid4().hex[:10]}")
    clock = Clock()
    trends = TrendService(store, PARAMS, clock)
    make = Tweets(clock)
    batch = [make(author, "look up #eclipse", ["Eclipse"]) for author in range(12)]
    await trends.record(batch)
    clock.now = START + 60
    await trends.record([make(author, "#eclipse again", ["eclipse"]) for author in range(12, 14)])
    shown = await trends.recompute()
    eclipse = next(t for t in shown if t.term == "#eclipse")
    assert (eclipse.authors, eclipse.tweets) == (14, 14)
    assert await store.current() == shown
    assert await store.claim(5)
    assert not await store.claim(5)


async def test_the_user_cache_never_puts_an_older_version(resp: RespClient) -> None:
    cache = RedisUserCache(resp)
    created = datetime(2026, 3, 1, tzinfo=UTC)
    users = [
        User(random_user_id(), "cluster_user", "New", "", created, created + timedelta(seconds=1))
        for _ in range(10)
    ]
    await cache.put_many(users)
    older = [User(u.id, u.username, "Old", "", created, created) for u in users]
    await cache.put_many(older)
    assert await cache.get_many([u.id for u in users]) == {u.id: u for u in users}


async def test_a_live_message_reaches_a_subscriber_on_a_replica_once(resp: RespClient) -> None:
    user = random_user_id()
    store = RedisTimelineStore(resp, length=5, active_seconds=600)
    await store.store(user, [])
    _, replicas = await _serving(resp, home_key(user))
    seeds = ",".join(f"{host}:{port}" for host, port in [_nothing_listening(), replicas[0]])
    pubsub = pubsub_client(f"redis+cluster://{seeds}")  # the first seed is skipped
    try:
        live = RedisLiveUpdates(pubsub)
        async with live.follow(user) as feed:
            assert await store.push([user], [BIG + 1]) == 1
            changes: list[LiveChange] = []
            async with asyncio.timeout(5):
                while not changes:  # (None for the subscription's own confirmation)
                    if change := await feed.next(1):
                        changes.append(change)
            assert changes == [LiveChange(added=[BIG + 1])]
            assert await feed.next(0.5) is None  # once: not again through replication
    finally:
        await pubsub.aclose()


def _nothing_listening() -> Address:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host, port = probe.getsockname()
    return host, port  # free once closed


async def _fail_over_to(replica: Address) -> None:
    """Promotes ``replica`` gracefully: its master stops writes until the replica has caught up,
    then hands over. Asked again if it timed out (a master that has not yet learnt of a
    replica just demoted to it ignores the request)."""
    node = Resp(*replica)
    try:
        for _ in range(5):
            assert await node.call("CLUSTER", "FAILOVER") == b"OK"
            with contextlib.suppress(AssertionError):
                await eventually(lambda: node.call("ROLE"), lambda role: role[0] == b"master", 6)
                return
        raise AssertionError(f"{replica} was not promoted")
    finally:
        await node.aclose()


async def test_a_failover_is_ridden_out(resp: RespClient) -> None:
    key = _key()
    master, replicas = await _serving(resp, key)
    await resp.call("SET", key, 0, "EX", 600)
    loop = asyncio.get_running_loop()
    answered: list[float] = []
    failures: list[Exception] = []
    stop = asyncio.Event()

    async def keep_counting() -> None:
        while not stop.is_set():
            try:
                await resp.call("INCR", key)
                answered.append(loop.time())
            except Exception as error:  # counted: the test bounds them
                failures.append(error)
            await asyncio.sleep(0.005)

    counting = asyncio.ensure_future(keep_counting())
    try:
        await asyncio.sleep(0.5)
        await _fail_over_to(replicas[0])
        await asyncio.sleep(1.0)  # calls go on against the promoted replica
    finally:
        stop.set()
        await counting
    try:
        assert (await _serving(resp, key))[0] == replicas[0]
        assert [f"{type(failure).__name__}: {failure}" for failure in failures] == []
        gaps = [later - earlier for earlier, later in itertools.pairwise(answered)]
        assert max(gaps) < 3.0
        assert int(await resp.call("GET", key)) == len(answered)
    finally:
        await _fail_over_to(master)  # as it was
        await resp.call("DEL", key)
