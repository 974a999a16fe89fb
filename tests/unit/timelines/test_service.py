"""The home timeline rules over in-memory adapters."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.platform.errors import InvalidArgument
from services.timelines.model import LiveChange
from services.timelines.service import FANOUT_BATCH, TimelineService, merge_ids
from tests.unit.timelines.fakes import MemoryGraph, MemoryLive, MemoryStore, MemoryTweets

THRESHOLD = 2
READER, PLAIN, STAR = 1, 2, 3


@pytest.fixture
def graph() -> MemoryGraph:
    # READER follows PLAIN (1 follower) and STAR (3 followers: a celebrity).
    return MemoryGraph({(READER, PLAIN), (READER, STAR), (50, STAR), (51, STAR)})


@pytest.fixture
def tweets() -> MemoryTweets:
    return MemoryTweets()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(length=10)


@pytest.fixture
def service(store: MemoryStore, graph: MemoryGraph, tweets: MemoryTweets) -> TimelineService:
    return TimelineService(
        store, graph, tweets, MemoryLive(), celebrity_threshold=THRESHOLD, length=10
    )


async def _all(service: TimelineService, size: int) -> list[list[int]]:
    pages, token = [], ""
    while True:
        page = await service.page(READER, size, token)
        pages.append([t.id for t in page.items])
        if not page.next_token:
            return pages
        token = page.next_token


async def test_fanout_reaches_active_followers_and_the_author_but_not_for_celebrities(
    service: TimelineService, store: MemoryStore, tweets: MemoryTweets
) -> None:
    await store.store(READER, [])
    await store.store(PLAIN, [])
    tweets.post(100, PLAIN)
    assert await service.fan_out(100, PLAIN) == 2  # the reader and the author
    assert await service.fan_out(100, PLAIN) == 2  # again: nothing changes
    assert store.timelines[READER] == {100}
    assert 50 not in store.timelines  # not active: rebuilt on read instead
    tweets.post(101, STAR)
    assert await service.fan_out(101, STAR) == 0  # celebrity, and has no timeline itself
    assert store.timelines[READER] == {100}
    assert store.followers.lists[STAR] == [0, 3]  # kept: the count, no followers to push to


async def test_a_big_fanout_goes_out_in_batches_and_counts_every_timeline(
    store: MemoryStore, graph: MemoryGraph, tweets: MemoryTweets
) -> None:
    author, followers = 9, range(1000, 1000 + FANOUT_BATCH * 2 + 7)
    graph.follows.update((follower, author) for follower in followers)
    for user in (author, *followers):
        await store.store(user, [])
    service = TimelineService(
        store, graph, tweets, MemoryLive(), celebrity_threshold=10**6, length=10
    )
    expected = len(followers) + 1
    assert await service.fan_out(tweets.post(100, author), author) == expected  # from graph
    assert await service.fan_out(tweets.post(101, author), author) == expected  # kept
    assert all(store.timelines[user] == {100, 101} for user in (author, *followers))
    assert max(store.pushed_batch_sizes) <= FANOUT_BATCH + 1  # the author rides the first


class SharedParts:
    """The parts a fanout handed to other workers."""

    def __init__(self) -> None:
        self.parts: list[tuple[int, int, list[int]]] = []

    async def share(self, tweet_id: int, author_id: int, follower_ids: Sequence[int]) -> None:
        self.parts.append((tweet_id, author_id, list(follower_ids)))


def _sharing(
    store: MemoryStore, graph: MemoryGraph, tweets: MemoryTweets
) -> tuple[TimelineService, SharedParts]:
    """A service that shares fanouts past one batch of followers, and the parts it shared."""
    shared = SharedParts()
    service = TimelineService(
        store,
        graph,
        tweets,
        MemoryLive(),
        celebrity_threshold=10**6,
        length=10,
        parts=shared,
        part_size=FANOUT_BATCH,
    )
    return service, shared


async def test_a_fanout_past_its_part_size_shares_the_rest_in_parts(
    store: MemoryStore, graph: MemoryGraph, tweets: MemoryTweets
) -> None:
    author, followers = 9, list(range(1000, 1000 + FANOUT_BATCH * 3 + 7))
    graph.follows.update((follower, author) for follower in followers)
    for user in (author, *followers):
        await store.store(user, [])
    service, shared = _sharing(store, graph, tweets)
    assert await service.fan_out(tweets.post(100, author), author) == FANOUT_BATCH + 1
    rest = followers[FANOUT_BATCH:]
    assert shared.parts == [
        (100, author, rest[:FANOUT_BATCH]),
        (100, author, rest[FANOUT_BATCH : FANOUT_BATCH * 2]),
        (100, author, rest[FANOUT_BATCH * 2 :]),  # the last part: what is left
    ]
    assert all(store.timelines[user] == {100} for user in (author, *followers[:FANOUT_BATCH]))
    assert all(store.timelines[user] == set() for user in rest)
    written = [await service.push_part(100, part) for _, _, part in shared.parts]
    assert written == [FANOUT_BATCH, FANOUT_BATCH, 7]
    assert all(store.timelines[user] == {100} for user in followers)


async def test_a_fanout_within_its_part_size_is_not_shared(
    store: MemoryStore, graph: MemoryGraph, tweets: MemoryTweets
) -> None:
    author, followers = 9, list(range(1000, 1000 + FANOUT_BATCH))
    graph.follows.update((follower, author) for follower in followers)
    for user in followers:
        await store.store(user, [])
    service, shared = _sharing(store, graph, tweets)
    assert await service.fan_out(tweets.post(100, author), author) == FANOUT_BATCH
    assert shared.parts == []


async def test_an_author_posting_again_is_fanned_out_to_the_kept_followers(
    service: TimelineService, store: MemoryStore, graph: MemoryGraph, tweets: MemoryTweets
) -> None:
    newcomer = 70
    for user in (READER, newcomer):
        await store.store(user, [])
    await service.fan_out(tweets.post(100, PLAIN), PLAIN)
    asked = graph.follower_calls
    assert await service.fan_out(tweets.post(101, PLAIN), PLAIN) == 1
    assert graph.follower_calls == asked  # the followers were kept from the first tweet
    assert store.followers.lists[PLAIN] == [0, 1, READER]
    # A new follower: graph counts the change before answering, so the next tweet reaches them
    # (the follow's event, which forgets the followers too, may come later).
    graph.follows.add((newcomer, PLAIN))
    store.followers.changes[PLAIN] = 1
    assert await service.fan_out(tweets.post(102, PLAIN), PLAIN) == 2
    assert store.timelines[newcomer] == {102}
    assert store.followers.lists[PLAIN] == [1, 2, READER, newcomer]
    await service.followed(newcomer, PLAIN)
    assert PLAIN not in store.followers.lists


async def test_pages_merge_celebrities_in_id_order_and_end(
    graph: MemoryGraph, tweets: MemoryTweets
) -> None:
    service = TimelineService(
        MemoryStore(length=100),
        graph,
        tweets,
        MemoryLive(),
        celebrity_threshold=THRESHOLD,
        length=100,
    )
    for i in range(10, 40):
        tweets.post(i, PLAIN if i % 3 else STAR)
    tweets.post(5, READER)
    pages = await _all(service, 7)  # a cold reader: rebuilt first
    assert [i for p in pages for i in p] == [*range(39, 9, -1), 5]
    assert [len(p) for p in pages] == [7, 7, 7, 7, 3]


async def test_rebuild_is_bounded_and_leaves_celebrities_to_the_read(
    service: TimelineService, store: MemoryStore, tweets: MemoryTweets
) -> None:
    for i in range(100, 130):
        tweets.post(i, PLAIN)
    tweets.post(200, STAR)
    await service.rebuild(READER)
    assert store.timelines[READER] == set(range(120, 130))  # the newest 10 (the length)
    page = await service.page(READER, 3, "")
    assert [t.id for t in page.items] == [200, 129, 128]


async def test_deleted_and_duplicate_retweets_are_skipped_and_pages_stay_full(
    service: TimelineService, tweets: MemoryTweets
) -> None:
    for i in range(10, 20):
        tweets.post(i, PLAIN)
    tweets.post(30, PLAIN, retweet_of=15)  # a retweet of something on the page
    tweets.deleted.update({19, 18, 17})
    pages = await _all(service, 4)
    assert pages == [[30, 16, 14, 13], [12, 11, 10]]


async def test_a_page_with_many_deleted_entries_takes_more_rounds(
    service: TimelineService, tweets: MemoryTweets, store: MemoryStore
) -> None:
    ids = [tweets.post(i, PLAIN) for i in range(100, 160)]
    store.length = 100
    await store.store(READER, ids)
    tweets.deleted.update(range(103, 160))
    page = await service.page(READER, 5, "")
    assert [t.id for t in page.items] == [102, 101, 100]
    assert page.next_token == ""
    assert store.timelines[READER] == {100, 101, 102}  # the read took the deleted ones out


async def test_follow_merges_and_unfollow_takes_out(
    service: TimelineService, store: MemoryStore, tweets: MemoryTweets
) -> None:
    other = 9
    tweets.post(40, other)
    tweets.post(41, STAR)
    await store.store(READER, [])
    await service.followed(READER, other)
    await service.followed(READER, STAR)  # a celebrity: merged on read, not stored
    assert store.timelines[READER] == {40}
    await service.unfollowed(READER, other)
    assert store.timelines[READER] == set()


async def test_a_deleted_accounts_unfollows_leave_no_mark_under_its_id(
    graph: MemoryGraph, tweets: MemoryTweets, store: MemoryStore
) -> None:
    deleted_account, other = 9, 10
    service = TimelineService(
        store, graph, tweets, MemoryLive(), celebrity_threshold=THRESHOLD, length=10,
        deleted={deleted_account},
    )  # fmt: skip
    await service.unfollowed(deleted_account, other)  # as graph erases its follows
    await service.unfollowed(READER, deleted_account)
    assert store.celebrities_followed.forgotten == {READER: 1}
    assert store.followers.forgotten == {other: 1}


async def test_a_delete_leaves_every_timeline(service: TimelineService, store: MemoryStore) -> None:
    await store.store(READER, [70, 71])
    await store.store(PLAIN, [70])
    await service.take_out(70, PLAIN)
    assert store.timelines == {READER: {71}, PLAIN: set()}


async def _shown(service: TimelineService) -> list[int]:
    return [t.id for t in (await service.page(READER, 20, "")).items]


async def test_a_read_finds_the_celebrities_followed_kept_not_asked_of_graph(
    service: TimelineService, graph: MemoryGraph, tweets: MemoryTweets, store: MemoryStore
) -> None:
    await service.rebuild(READER)
    tweets.post(100, STAR)
    assert await _shown(service) == [100]
    asked = graph.following_calls
    assert await _shown(service) == [100]
    assert graph.following_calls == asked  # kept from the first read
    # The reader follows another celebrity: graph counts the change before answering, and the
    # next read asks graph again (the event, which forgets the list too, may come later).
    other = 4
    graph.follows |= {(READER, other), (50, other), (51, other)}
    store.celebrities_followed.changes[READER] = 1
    tweets.post(101, other)
    assert await _shown(service) == [101, 100]
    assert store.celebrities_followed.lists[READER] == [1, STAR, other]
    await service.followed(READER, other)
    assert READER not in store.celebrities_followed.lists


async def test_an_author_crossing_the_threshold_is_merged_for_followers_from_then_on(
    service: TimelineService, graph: MemoryGraph, tweets: MemoryTweets, store: MemoryStore
) -> None:
    await service.rebuild(READER)
    assert await _shown(service) == []
    assert store.celebrities_followed.lists[READER] == [0, STAR]
    # PLAIN gains followers past the threshold; the worker handles the follow that did it.
    graph.follows |= {(60, PLAIN), (61, PLAIN)}
    await service.followed(61, PLAIN)
    assert READER not in store.celebrities_followed.lists  # every follower's was forgotten
    tweets.post(102, PLAIN)
    await service.fan_out(102, PLAIN)  # a celebrity now: not pushed...
    assert await _shown(service) == [102]  # ...but merged on read
    # And back below: the reader's kept celebrities are forgotten again.
    graph.follows -= {(60, PLAIN), (61, PLAIN)}
    await service.unfollowed(61, PLAIN)
    assert READER not in store.celebrities_followed.lists


def test_a_merge_takes_the_newest_distinct_ids_below_the_cursor_up_to_the_limit() -> None:
    lists = [[9, 7, 5, 3], [8, 7, 6, 1], []]
    assert merge_ids(lists, before=None, limit=10) == [9, 8, 7, 6, 5, 3, 1]
    assert merge_ids(lists, before=7, limit=3) == [6, 5, 3]
    assert merge_ids(lists, before=2, limit=3) == [1]


async def test_a_stream_catches_up_then_sends_each_change_once_and_heartbeats(
    store: MemoryStore, graph: MemoryGraph, tweets: MemoryTweets
) -> None:
    live = MemoryLive()
    service = TimelineService(store, graph, tweets, live, celebrity_threshold=THRESHOLD, length=10)
    await store.store(
        READER, [tweets.post(10, PLAIN), tweets.post(11, PLAIN), tweets.post(12, PLAIN)]
    )
    stream = service.stream(READER, 10, heartbeat_seconds=0.05)
    caught_up, removed = await anext(stream)
    assert ([t.id for t in caught_up], removed) == ([12, 11], [])  # newer than 10, newest first
    live.publish(READER, LiveChange(added=[tweets.post(13, PLAIN), 12]))  # 12 was sent already
    added, removed = await anext(stream)
    assert ([t.id for t in added], removed) == ([13], [])
    live.publish(READER, LiveChange(removed=[11]))
    assert await anext(stream) == ([], [11])
    assert await asyncio.wait_for(anext(stream), 1) == ([], [])  # a heartbeat
    await stream.aclose()


async def test_a_stream_sends_its_first_message_at_once_and_refuses_a_negative_id(
    service: TimelineService,
) -> None:
    stream = service.stream(READER, 0, heartbeat_seconds=60)
    assert await asyncio.wait_for(anext(stream), 1) == ([], [])
    await stream.aclose()
    with pytest.raises(InvalidArgument, match="after_tweet_id"):
        await anext(service.stream(READER, -1, heartbeat_seconds=60))
