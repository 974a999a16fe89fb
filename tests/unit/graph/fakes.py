"""In-memory adapters of the graph ports, for the domain's unit tests (each is held to the real
adapter's behaviour by its contract suite under tests/contracts/graph)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from chirp.users.v1 import user_pb2

from services.graph.model import Change, Cursor, FollowCounts, Listed, Relationship


class MemoryStore:
    """Edges as {(follower, followee): create_time}; a clock that ticks per follow."""

    def __init__(self) -> None:
        self.edges: dict[tuple[int, int], int] = {}
        self.nodes: set[int] = set()
        self.clock = 1000
        #: Each user's count of the changes that moved their counts.
        self.versions: dict[int, int] = {}

    async def ensure_user(self, user_id: int) -> None:
        self.nodes.add(user_id)

    async def follow(self, follower_id: int, followee_id: int) -> Change:
        self.nodes |= {follower_id, followee_id}
        changed = (follower_id, followee_id) not in self.edges
        if changed:
            self.clock += 1
            self.edges[follower_id, followee_id] = self.clock
        return await self._change(follower_id, followee_id, changed=changed)

    async def unfollow(self, follower_id: int, followee_id: int) -> Change:
        self.nodes |= {follower_id, followee_id}  # as Neo4j's MERGE of both before the check
        changed = self.edges.pop((follower_id, followee_id), None) is not None
        return await self._change(follower_id, followee_id, changed=changed)

    async def _change(self, follower_id: int, followee_id: int, *, changed: bool) -> Change:
        relationship = await self.relationship(follower_id, followee_id)
        if not changed:
            return Change(relationship, changed)
        for user_id in (follower_id, followee_id):
            self.versions[user_id] = self.versions.get(user_id, 0) + 1
        return Change(relationship, changed, (self._count(follower_id), self._count(followee_id)))

    async def remove_follows(self, user_id: int, limit: int) -> list[tuple[int, int]]:
        removed = [pair for pair in self.edges if user_id in pair][:limit]
        for pair in removed:
            del self.edges[pair]
        return removed

    async def remove_user(self, user_id: int) -> bool:
        if any(user_id in pair for pair in self.edges):
            return False
        self.nodes.discard(user_id)
        return True

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
            self.versions.get(user_id, 0),
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
        ranks = {u: (votes[u], self._count(u).follower_count, u) for u in votes}
        return sorted(votes, key=ranks.__getitem__, reverse=True)[:limit]

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

    async def serialized(self, ids: Sequence[int]) -> dict[int, bytes]:
        known = {user_id: name for name, user_id in self.names.items()}
        return {
            i: user_pb2.User(id=i, username=known[i]).SerializeToString() for i in ids if i in known
        }


class CountedChanges:
    def __init__(self) -> None:
        self.followings: dict[int, int] = {}
        self.followers: dict[int, int] = {}

    async def changed(
        self,
        follower_id: int,
        followee_id: int,
        _counts: tuple[FollowCounts, FollowCounts] | None = None,
    ) -> None:
        self.followings[follower_id] = self.followings.get(follower_id, 0) + 1
        self.followers[followee_id] = self.followers.get(followee_id, 0) + 1


class KeptSuggestions:
    """Each user's ranking kept from its first read until their followings change (counted in
    ``changes``) or it is forgotten, as the Redis cache keeps it; the ``KeptCopies`` too (the
    unit tests keep no counts)."""

    def __init__(self, changes: CountedChanges) -> None:
        self.changes = changes
        self.kept: dict[int, tuple[int, list[int]]] = {}

    async def ranked(self, user_id: int, rank: Callable[[], Awaitable[list[int]]]) -> list[int]:
        stamp = self.changes.followings.get(user_id, 0)
        kept = self.kept.get(user_id)
        if kept is None or kept[0] != stamp:
            kept = self.kept[user_id] = (stamp, await rank())
        return kept[1]

    async def forget(self, user_id: int) -> None:
        self.kept.pop(user_id, None)
