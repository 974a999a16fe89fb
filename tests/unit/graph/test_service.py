"""The graph's rules over in-memory adapters (``fakes.py``; each is held to its real adapter by
tests/contracts/graph)."""

from __future__ import annotations

import pytest
from chirp.users.v1 import user_pb2

from services.graph.model import FollowCounts, Relationship
from services.graph.service import ERASE_BATCH, MAX_SUGGESTIONS, GraphService
from services.platform.errors import InvalidArgument, NotFound
from services.platform.paging import Page
from tests.limiting import CountingLimiter
from tests.unit.graph.fakes import CountedChanges, KeptSuggestions, MemoryDirectory, MemoryStore


def users_of(page: Page[bytes]) -> list[user_pb2.User]:
    """A list's users, sent as the serialized summaries the page holds."""
    return [user_pb2.User.FromString(payload) for payload in page.items]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def changes() -> CountedChanges:
    return CountedChanges()


@pytest.fixture
def directory() -> MemoryDirectory:
    return MemoryDirectory({f"user{i}": i for i in range(1, 300)})


@pytest.fixture
def suggestions(changes: CountedChanges) -> KeptSuggestions:
    return KeptSuggestions(changes)


@pytest.fixture
def graph(
    store: MemoryStore,
    changes: CountedChanges,
    directory: MemoryDirectory,
    suggestions: KeptSuggestions,
) -> GraphService:
    return GraphService(
        store, directory, changes, store, suggestions, suggestions, CountingLimiter()
    )


async def test_follows_and_unfollows_count_as_changes_of_followings_and_followers(
    graph: GraphService, changes: CountedChanges
) -> None:
    await graph.follow(1, "user2")
    await graph.unfollow(1, "user2")
    await graph.follow(3, "user2")
    await graph.follow(3, "user4")
    assert changes.followings == {1: 2, 3: 2}
    assert changes.followers == {2: 3, 4: 1}


async def test_following_yourself_is_refused(graph: GraphService) -> None:
    with pytest.raises(InvalidArgument, match="username: you cannot follow yourself"):
        await graph.follow(1, "User1")


async def test_an_unknown_or_empty_username_is_refused(graph: GraphService) -> None:
    with pytest.raises(NotFound):
        await graph.follow(1, "nobody")
    with pytest.raises(NotFound):
        await graph.followers("nobody", 20, "")
    with pytest.raises(InvalidArgument, match="username: is required"):
        await graph.unfollow(1, " ")


async def test_a_follow_by_handle_is_case_insensitive_and_idempotent(
    graph: GraphService, store: MemoryStore
) -> None:
    first = await graph.follow(1, "@USER2")
    again = await graph.follow(1, "user2")
    assert first == again == Relationship(1, 2, following=True, followed_by=False)
    assert store.edges.keys() == {(1, 2)}
    assert await graph.unfollow(1, "user2") == Relationship(
        1, 2, following=False, followed_by=False
    )
    assert await graph.unfollow(1, "user2") == Relationship(
        1, 2, following=False, followed_by=False
    )


async def test_lists_page_newest_first_and_hydrate_unknown_users_by_id(
    graph: GraphService, store: MemoryStore
) -> None:
    for follower in (3, 4, 10_000, 5):  # 10_000 has no account
        await store.follow(follower, 2)
    first = await graph.followers("user2", 3, "")
    users = users_of(first)
    assert [u.id for u in users] == [5, 10_000, 4]
    assert users[1] == user_pb2.User(id=10_000)
    assert users[0].username == "user5"
    last = await graph.followers("user2", 3, first.next_token)
    assert [u.id for u in users_of(last)] == [3]
    assert last.next_token == ""
    with pytest.raises(InvalidArgument, match="another list"):
        await graph.following("user2", 3, first.next_token)


async def test_suggestions_rank_friends_of_friends_then_fill_with_the_most_followed(
    graph: GraphService, store: MemoryStore
) -> None:
    me, a, b = 1, 2, 3
    for followee in (a, b, 9):
        await store.follow(me, followee)
    await store.follow(a, 20)
    await store.follow(b, 20)
    await store.follow(a, 21)
    await store.follow(a, 9)  # already followed: never suggested
    await store.follow(a, me)  # me: never suggested
    for fan in range(100, 105):
        await store.follow(fan, 50)  # the most followed account
    page = await graph.suggestions(me, 20, "")
    assert [u.id for u in users_of(page)] == [20, 21, 50]
    newcomer = await graph.suggestions(200, 2, "")
    assert users_of(newcomer)[0].id == 50


async def test_suggestions_page_by_offset_up_to_the_maximum(
    graph: GraphService, store: MemoryStore
) -> None:
    for target in range(2, 2 + MAX_SUGGESTIONS + 20):
        await store.follow(1000 + target, target)
    seen: list[int] = []
    token = ""
    while True:
        page = await graph.suggestions(1, 30, token)
        seen += [u.id for u in users_of(page)]
        token = page.next_token
        if not token:
            break
        await store.follow(5000 + len(seen), 5000)  # a new most followed: the pages stay put
    assert len(seen) == len(set(seen)) == MAX_SUGGESTIONS
    assert 5000 not in seen


async def test_counts_of_unknown_users_are_zero_and_batches_are_bounded(
    graph: GraphService, store: MemoryStore
) -> None:
    await store.follow(1, 2)
    counts = await graph.counts([2, 1, 77])
    assert counts == [FollowCounts(2, 1, 0), FollowCounts(1, 0, 1), FollowCounts(77, 0, 0)]
    with pytest.raises(InvalidArgument, match="user_ids"):
        await graph.counts(list(range(101)))
    with pytest.raises(InvalidArgument, match="edges"):
        await graph.check([(1, 2)] * 1001)


async def test_following_ids_page_and_filter_by_follower_count(
    graph: GraphService, store: MemoryStore
) -> None:
    for followee in range(10, 20):
        await store.follow(1, followee)
    await store.follow(2, 15)
    await store.follow(2, 17)
    page = await graph.following_ids(1, 0, 4, "")
    assert page.items == [10, 11, 12, 13]
    rest = await graph.following_ids(1, 0, 100, page.next_token)
    assert rest.items == list(range(14, 20))
    assert rest.next_token == ""
    assert (await graph.following_ids(1, 2, 100, "")).items == [15, 17]
    with pytest.raises(InvalidArgument, match="another list"):
        await graph.following_ids(1, 2, 100, page.next_token)


async def test_an_erasure_removes_every_follow_both_ways_and_counts_each_change(
    graph: GraphService, store: MemoryStore, changes: CountedChanges, suggestions: KeptSuggestions
) -> None:
    gone, fans, followed = 7, range(100, 100 + ERASE_BATCH + 3), [8, 9]
    for fan in fans:
        await store.follow(fan, gone)
    for followee in followed:
        await store.follow(gone, followee)
    await store.follow(8, 9)  # between others: stays
    await graph.suggestions(gone, 5, "")  # a ranking kept for the erased account
    await graph.erase_user(gone)
    assert store.edges.keys() == {(8, 9)}
    assert gone not in store.nodes
    assert gone not in suggestions.kept
    assert await graph.counts([8, 9, 100]) == [
        FollowCounts(8, 0, 1),
        FollowCounts(9, 1, 0),
        FollowCounts(100, 0, 0),
    ]
    # Each removed follow counted as a change of the follower's followings and the followee's
    # followers, as an unfollow is (the follows above were made on the store: not counted).
    assert all(changes.followings[fan] == 1 for fan in fans)
    assert changes.followers[8] == changes.followers[9] == 1
    await graph.erase_user(gone)  # again: nothing left to do
    assert store.edges.keys() == {(8, 9)}
    assert changes.followings[100] == 1


async def test_a_created_account_gets_its_node_unless_it_is_deleted_by_then(
    graph: GraphService, store: MemoryStore, directory: MemoryDirectory
) -> None:
    await graph.add_user(5)
    assert 5 in store.nodes
    del directory.names["user6"]
    await graph.add_user(6)  # its users.created after its users.deleted: no node again
    assert 6 not in store.nodes
