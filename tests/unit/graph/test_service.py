"""The graph's rules over in-memory adapters (the Neo4j store has the same tests against the
real database in tests/integration/graph)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from chirp.users.v1 import user_pb2

from services.graph.model import Change, Cursor, FollowCounts, Listed, Relationship
from services.graph.service import MAX_SUGGESTIONS, GraphService
from services.platform.errors import InvalidArgument, NotFound
from tests.limiting import CountingLimiter


class MemoryStore:
    """Edges as {(follower, followee): create_time}; a clock that ticks per follow."""

    def __init__(self) -> None:
        self.edges: dict[tuple[int, int], int] = {}
        self.nodes: set[int] = set()
        self.clock = 1000

    async def ensure_user(self, user_id: int) -> None:
        self.nodes.add(user_id)

    async def follow(self, follower_id: int, followee_id: int) -> Change:
        self.nodes |= {follower_id, followee_id}
        changed = (follower_id, followee_id) not in self.edges
        if changed:
            self.clock += 1
            self.edges[follower_id, followee_id] = self.clock
        return Change(await self.relationship(follower_id, followee_id), changed)

    async def unfollow(self, follower_id: int, followee_id: int) -> Change:
        changed = self.edges.pop((follower_id, followee_id), None) is not None
        return Change(await self.relationship(follower_id, followee_id), changed)

    async def relationship(self, source_id: int, target_id: int) -> Relationship:
        return Relationship(
            source_id,
            target_id,
            (source_id, target_id) in self.edges,
            (target_id, source_id) in self.edges,
        )

    def _list(self, rows: list[Listed], before: Cursor | None, limit: int) -> list[Listed]:
        rows.sort(key=lambda row: (row.create_time, row.user_id), reverse=True)
        if before is not None:
            rows = [
                r for r in rows if (r.create_time, r.user_id) < (before.create_time, before.user_id)
            ]
        return rows[:limit]

    async def followers(self, user_id: int, before: Cursor | None, limit: int) -> list[Listed]:
        rows = [Listed(a, t) for (a, b), t in self.edges.items() if b == user_id]
        return self._list(rows, before, limit)

    async def following(self, user_id: int, before: Cursor | None, limit: int) -> list[Listed]:
        rows = [Listed(b, t) for (a, b), t in self.edges.items() if a == user_id]
        return self._list(rows, before, limit)

    def _count(self, user_id: int) -> FollowCounts:
        return FollowCounts(
            user_id,
            sum(1 for _, b in self.edges if b == user_id),
            sum(1 for a, _ in self.edges if a == user_id),
        )

    async def counts(self, user_ids: Sequence[int]) -> dict[int, FollowCounts]:
        return {u: self._count(u) for u in user_ids if u in self.nodes}

    async def check(self, pairs: Sequence[tuple[int, int]]) -> list[bool]:
        return [pair in self.edges for pair in pairs]

    async def following_ids(
        self, user_id: int, min_follower_count: int, after: int | None, limit: int
    ) -> list[int]:
        ids = sorted(
            b
            for (a, b) in self.edges
            if a == user_id
            and (after is None or b > after)
            and self._count(b).follower_count >= min_follower_count
        )
        return ids[:limit]

    async def stream_followers(self, user_id: int, batch_size: int) -> AsyncIterator[list[int]]:
        ids = [a for (a, b) in self.edges if b == user_id]
        for start in range(0, len(ids), batch_size):
            yield ids[start : start + batch_size]

    async def friends_of_friends(self, user_id: int, limit: int) -> list[int]:
        mine = {b for (a, b) in self.edges if a == user_id}
        votes: dict[int, int] = {}
        for a, b in self.edges:
            if a in mine and b != user_id and b not in mine:
                votes[b] = votes.get(b, 0) + 1
        return sorted(votes, key=lambda u: (votes[u], u), reverse=True)[:limit]

    async def most_followed(self, user_id: int, limit: int) -> list[int]:
        mine = {b for (a, b) in self.edges if a == user_id}
        counts = {b: self._count(b).follower_count for (_, b) in self.edges}
        ranked = [u for u in counts if u != user_id and u not in mine]
        return sorted(ranked, key=lambda u: (counts[u], u), reverse=True)[:limit]


class MemoryDirectory:
    def __init__(self, names: dict[str, int]) -> None:
        self.names = names

    async def id_of(self, username: str) -> int | None:
        return self.names.get(username.lower())

    async def by_ids(self, ids: Sequence[int]) -> dict[int, user_pb2.User]:
        known = {user_id: name for name, user_id in self.names.items()}
        return {i: user_pb2.User(id=i, username=known[i]) for i in ids if i in known}


class CountedChanges:
    def __init__(self) -> None:
        self.followings: dict[int, int] = {}
        self.followers: dict[int, int] = {}

    async def changed(self, follower_id: int, followee_id: int) -> None:
        self.followings[follower_id] = self.followings.get(follower_id, 0) + 1
        self.followers[followee_id] = self.followers.get(followee_id, 0) + 1


class KeptSuggestions:
    """Each user's ranking kept from its first read (the Redis cache's rules are tested
    against Redis)."""

    def __init__(self) -> None:
        self.kept: dict[int, list[int]] = {}

    async def ranked(self, user_id: int, rank: Callable[[], Awaitable[list[int]]]) -> list[int]:
        if user_id not in self.kept:
            self.kept[user_id] = await rank()
        return self.kept[user_id]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def changes() -> CountedChanges:
    return CountedChanges()


@pytest.fixture
def graph(store: MemoryStore, changes: CountedChanges) -> GraphService:
    names = {f"user{i}": i for i in range(1, 300)}
    return GraphService(
        store, MemoryDirectory(names), changes, store, KeptSuggestions(), CountingLimiter()
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
    assert [u.id for u in first.items] == [5, 10_000, 4]
    assert first.items[1] == user_pb2.User(id=10_000)
    assert first.items[0].username == "user5"
    last = await graph.followers("user2", 3, first.next_token)
    assert [u.id for u in last.items] == [3]
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
    assert [u.id for u in page.items] == [20, 21, 50]
    newcomer = await graph.suggestions(200, 2, "")
    assert newcomer.items[0].id == 50


async def test_suggestions_page_by_offset_up_to_the_maximum(
    graph: GraphService, store: MemoryStore
) -> None:
    for target in range(2, 2 + MAX_SUGGESTIONS + 20):
        await store.follow(1000 + target, target)
    seen: list[int] = []
    token = ""
    while True:
        page = await graph.suggestions(1, 30, token)
        seen += [u.id for u in page.items]
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
