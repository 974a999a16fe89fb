"""The home timeline through Envoy on 127.0.0.1:8080, against the real services and stores
(Redis, NATS and the fanout worker, graph, tweets). The local stack's celebrity threshold is 5,
so both the fanout-on-write and the merge-on-read paths run."""

from __future__ import annotations

import grpc
import httpx
from redis.asyncio import Redis

from services.platform.paging import HOME_TIMELINE, encode_token
from services.timelines.adapters.store import home_key
from tests.integration.timelines.support import (
    anonymous,
    celebrity,
    delete,
    eventually,
    everything,
    follow,
    home_ids,
    page,
    post,
    register,
    retweet,
    stored,
)

EMPTY = {"tweets": [], "nextPageToken": ""}


def _error(response: httpx.Response, status: int, code: grpc.StatusCode, field: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code.value[0]
    if field:
        (detail,) = body["details"]
        assert [v["field"] for v in detail["fieldViolations"]] == [field]


async def test_reading_needs_a_caller_and_checks_paging(http: httpx.AsyncClient) -> None:
    _error(await http.get("/v1/timelines/home"), 401, grpc.StatusCode.UNAUTHENTICATED)
    reader = anonymous()
    _error(
        await http.get("/v1/timelines/home", params={"pageSize": -1}, headers=reader.headers),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    )
    _error(
        await http.get("/v1/timelines/home", params={"pageToken": "x!"}, headers=reader.headers),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    )
    assert await page(http, reader) == EMPTY  # nobody followed, nothing posted: empty, no token


async def test_a_follower_sees_a_new_tweet_within_a_second(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    author = await register(http, "ta")
    reader = anonymous()
    await follow(http, reader, author.username)
    assert await home_ids(http, reader) == []  # a read makes the reader active
    tweet_id = await post(http, author, "hello followers")
    ids, seconds = await eventually(lambda: home_ids(http, reader), lambda ids: tweet_id in ids)
    assert ids == [tweet_id]
    assert seconds < 1.0
    assert await stored(redis, reader.id) == [tweet_id]  # fanned out, not merged on read
    # The author's own timeline has it too (their own read rebuilt it: it is their tweet).
    assert await home_ids(http, author) == [tweet_id]
    body = (await page(http, reader))["tweets"][0]
    assert body["text"] == "hello followers"
    assert body["author"]["username"] == author.username  # authors hydrated


async def test_inactive_followers_are_not_fanned_out_to_but_rebuilt_on_read(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    author = await register(http, "tb")
    active, away = anonymous(), anonymous()
    await follow(http, active, author.username)
    await follow(http, away, author.username)
    await home_ids(http, active)
    tweet_id = await post(http, author, "only the active get this pushed")
    await eventually(lambda: stored(redis, active.id), lambda ids: ids == [tweet_id])
    assert await redis.exists(home_key(away.id)) == 0  # never read: no timeline, no fanout
    assert await home_ids(http, away) == [tweet_id]  # rebuilt on the first read
    assert await stored(redis, away.id) == [tweet_id]
    assert 0 < await redis.ttl(home_key(away.id)) <= 30 * 24 * 3600  # active for 30 days


async def test_a_lost_timeline_is_rebuilt_with_the_same_tweets(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    # Only the timeline keys: the FLUSHALL test below loses every key of every service.
    authors = [await register(http, "tc") for _ in range(2)]
    reader = anonymous()
    for author in authors:
        await follow(http, reader, author.username)
    await home_ids(http, reader)
    posted = [await post(http, authors[i % 2], f"tweet {i}") for i in range(6)]
    posted.append(await post(http, reader, "my own"))
    expected = sorted(posted, reverse=True)
    before, _ = await eventually(lambda: home_ids(http, reader), lambda ids: ids == expected)
    for user_id in (reader.id, authors[0].id, authors[1].id):
        await redis.delete(home_key(user_id))
    assert await home_ids(http, reader) == before
    assert await stored(redis, reader.id) == expected


async def test_after_flushall_timelines_are_rebuilt_and_fanout_resumes(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    """Redis holds nothing that cannot be rebuilt: every key of every service goes at once."""
    author = await register(http, "tf")
    reader = anonymous()
    await follow(http, reader, author.username)
    await home_ids(http, reader)
    posted = [await post(http, author, f"before the flush {i}") for i in range(4)]
    expected = sorted(posted, reverse=True)
    before, _ = await eventually(lambda: home_ids(http, reader), lambda ids: ids == expected)

    await redis.flushall()

    assert await home_ids(http, reader) == before  # rebuilt from graph and tweets
    assert await stored(redis, reader.id) == expected
    # Caches refill, id leases are taken again, and the rebuilt reader is fanned out to.
    after = await post(http, author, "after the flush")
    await eventually(lambda: home_ids(http, reader), lambda ids: ids == [after, *expected])


async def test_pages_neither_repeat_nor_skip_while_tweets_arrive(http: httpx.AsyncClient) -> None:
    author = await register(http, "td")
    reader = anonymous()
    await follow(http, reader, author.username)
    await home_ids(http, reader)
    posted = [await post(http, author, f"t{i}") for i in range(12)]
    await eventually(lambda: home_ids(http, reader), lambda ids: len(ids) == 12)
    first = await page(http, reader, 5)
    assert [int(t["id"]) for t in first["tweets"]] == posted[::-1][:5]
    newer = await post(http, author, "arrives between pages")
    await eventually(lambda: home_ids(http, reader), lambda ids: newer in ids)
    second = await page(http, reader, 5, first["nextPageToken"])
    third = await page(http, reader, 5, second["nextPageToken"])
    seen = [int(t["id"]) for body in (first, second, third) for t in body["tweets"]]
    assert seen == posted[::-1]
    assert third["nextPageToken"] == ""
    assert (await page(http, reader, 100, encode_token(HOME_TIMELINE, 0, posted[0]))) == EMPTY
    assert [len(p) for p in await everything(http, reader, 4)] == [4, 4, 4, 1]


async def test_the_celebrity_path_and_the_fanout_path_give_the_same_page(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    star, plain = await register(http, "te"), await register(http, "tf")
    early, late = anonymous(), anonymous()  # both will follow exactly star and plain
    for who in (star, plain):
        await follow(http, early, who.username)
    await home_ids(http, early)
    fanned = [await post(http, star if i % 2 else plain, f"before {i}") for i in range(4)]
    await eventually(lambda: stored(redis, early.id), lambda ids: ids == fanned[::-1])

    await celebrity(http, star)  # now above the threshold: no more fanout of star's tweets
    for who in (star, plain):
        await follow(http, late, who.username)
    merged = [await post(http, star if i % 2 else plain, f"after {i}") for i in range(4)]
    everything_posted = sorted(fanned + merged, reverse=True)
    await eventually(lambda: home_ids(http, early), lambda ids: ids == everything_posted)
    assert await home_ids(http, late) == everything_posted
    # The same page, made differently: star's new tweets are in neither timeline key.
    star_new = {merged[1], merged[3]}
    assert star_new.isdisjoint(await stored(redis, early.id) or [])
    late_stored = await stored(redis, late.id) or []
    assert set(fanned[1::2]).isdisjoint(late_stored)  # star's old ones: merged for late
    for size in (1, 3):
        assert await everything(http, early, size) == await everything(http, late, size)


async def test_follow_merges_and_unfollow_takes_out(http: httpx.AsyncClient) -> None:
    author = await register(http, "tg")
    reader = anonymous()
    mine = await post(http, reader, "mine")
    theirs = [await post(http, author, f"old {i}") for i in range(3)]
    assert await home_ids(http, reader) == [mine]
    await follow(http, reader, author.username)
    expected = sorted([mine, *theirs], reverse=True)
    await eventually(lambda: home_ids(http, reader), lambda ids: ids == expected)
    await follow(http, reader, author.username, "unfollow")
    await eventually(lambda: home_ids(http, reader), lambda ids: ids == [mine])


async def test_following_and_unfollowing_a_celebrity_changes_the_page_at_once(
    http: httpx.AsyncClient,
) -> None:
    star = await register(http, "th")
    await celebrity(http, star)
    tweet_id = await post(http, star, "for everyone who follows me")
    reader = anonymous()
    assert await home_ids(http, reader) == []
    await follow(http, reader, star.username)
    assert await home_ids(http, reader) == [tweet_id]  # merged on read, no event awaited
    newer = await post(http, star, "newer")
    await eventually(lambda: home_ids(http, reader), lambda ids: ids == [newer, tweet_id])
    await follow(http, reader, star.username, "unfollow")
    assert await home_ids(http, reader) == []


async def test_a_deleted_tweet_leaves_the_timelines(http: httpx.AsyncClient, redis: Redis) -> None:
    author = await register(http, "ti")
    reader = anonymous()
    await follow(http, reader, author.username)
    await home_ids(http, reader)
    kept, gone = await post(http, author, "kept"), await post(http, author, "gone")
    await eventually(lambda: stored(redis, reader.id), lambda ids: ids == [gone, kept])
    await delete(http, author, gone)
    assert await home_ids(http, reader) == [kept]  # filtered at once on read
    await eventually(lambda: stored(redis, reader.id), lambda ids: ids == [kept])  # removed
    await eventually(lambda: stored(redis, author.id), lambda ids: ids in (None, [kept]))


async def test_a_retweet_of_something_on_the_page_is_shown_once(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    author, fan = await register(http, "tj"), await register(http, "tk")
    reader = anonymous()
    for who in (author, fan):
        await follow(http, reader, who.username)
    await home_ids(http, reader)
    original = await post(http, author, "worth sharing")
    shared = await retweet(http, fan, original)
    await eventually(lambda: stored(redis, reader.id), lambda ids: ids == [shared, original])
    tweets = (await page(http, reader))["tweets"]
    assert [t["id"] for t in tweets] == [str(shared)]  # the newest entry, once
    assert tweets[0]["retweetOf"]["id"] == str(original)
    await delete(http, author, original)  # a retweet of a deleted tweet is not shown
    assert await home_ids(http, reader) == []


async def test_an_undone_retweet_leaves_the_timelines(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    author, fan = await register(http, "tq"), await register(http, "tr")
    reader = anonymous()
    await follow(http, reader, fan.username)
    await home_ids(http, reader)
    original = await post(http, author, "shared, then not")
    shared = await retweet(http, fan, original)
    await eventually(lambda: home_ids(http, reader), lambda ids: ids == [shared])
    response = await http.post(f"/v1/tweets/{original}:unretweet", json={}, headers=fan.headers)
    assert response.status_code == 200, response.text
    assert await home_ids(http, reader) == []  # filtered at once on read
    await eventually(lambda: stored(redis, reader.id), lambda ids: ids == [])  # then removed
