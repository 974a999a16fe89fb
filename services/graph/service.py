"""The social graph's rules, in plain typed Python: follows, lists, counts and who to follow,
and the accounts' nodes: made for new accounts, erased with every follow for deleted ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from chirp.users.v1 import user_pb2

from services.graph.model import Cursor, FollowCounts, Relationship
from services.graph.ports import (
    FollowChanges,
    FollowCountSource,
    GraphStore,
    KeptCopies,
    SuggestionCache,
    UserDirectory,
)
from services.platform.errors import InvalidArgument, NotFound
from services.platform.paging import Page, decode_ints, encode_token
from services.platform.ratelimit import RateLimiter

#: Who to follow ranks at most this many accounts (pages past them are empty).
MAX_SUGGESTIONS = 100
MAX_COUNT_IDS = 100
MAX_CHECK_EDGES = 1000
#: An erasure removes this many follows per transaction (an account may have millions).
ERASE_BATCH = 500


class GraphService:
    def __init__(  # noqa: PLR0913, PLR0917  (one port per store and per service it calls)
        self,
        store: GraphStore,
        directory: UserDirectory,
        changes: FollowChanges,
        counts: FollowCountSource,
        suggestions: SuggestionCache,
        kept: KeptCopies,
        follows: RateLimiter,
    ) -> None:
        """``follows`` limits each account's follows."""
        self._store = store
        self._counts = counts
        self._suggestions = suggestions
        self._kept = kept
        self._directory = directory
        self._changes = changes
        self._follows = follows

    async def user_id(self, username: str, field: str = "username") -> int:
        """The id of ``username`` (``@`` and case ignored); NOT_FOUND if there is none."""
        name = username.strip().removeprefix("@")
        if not name:
            raise InvalidArgument.field(field, "is required")
        user_id = await self._directory.id_of(name)
        if user_id is None:
            raise NotFound(f"no user is called '{name}'")
        return user_id

    async def follow(self, caller_id: int, username: str) -> Relationship:
        await self._follows.hit(str(caller_id))
        target = await self.user_id(username)
        if target == caller_id:
            raise InvalidArgument.field("username", "you cannot follow yourself")
        change = await self._store.follow(caller_id, target)
        await self._changes.changed(caller_id, target, change.counts)
        return change.relationship

    async def unfollow(self, caller_id: int, username: str) -> Relationship:
        target = await self.user_id(username)
        if target == caller_id:
            raise InvalidArgument.field("username", "you cannot unfollow yourself")
        change = await self._store.unfollow(caller_id, target)
        await self._changes.changed(caller_id, target, change.counts)
        return change.relationship

    async def followers(self, username: str, size: int, token: str) -> Page[bytes]:
        return await self._list("followers", username, size, token)

    async def following(self, username: str, size: int, token: str) -> Page[bytes]:
        return await self._list("following", username, size, token)

    async def _list(self, kind: str, username: str, size: int, token: str) -> Page[bytes]:
        user_id = await self.user_id(username)
        position = decode_ints(token, kind, user_id, 2)
        before = None if position is None else Cursor(position[0], position[1])
        read = self._store.followers if kind == "followers" else self._store.following
        rows = await read(user_id, before, size + 1)
        shown = rows[:size]
        next_token = ""
        if len(rows) > size:
            last = shown[-1]
            next_token = encode_token(kind, user_id, [last.create_time, last.user_id])
        return Page(await self._hydrate([row.user_id for row in shown]), next_token)

    async def suggestions(self, caller_id: int, size: int, token: str) -> Page[bytes]:
        """A page of the caller's ranking (``_rank``), kept between pages and reads."""
        position = decode_ints(token, "suggestions", caller_id, 1)
        offset = 0 if position is None else position[0]
        if offset < 0:
            raise InvalidArgument.field("page_token", "is not a page token this service issued")
        ranked = await self._suggestions.ranked(caller_id, lambda: self._rank(caller_id))
        shown = ranked[offset : offset + size]
        more = len(ranked) > offset + size
        next_token = encode_token("suggestions", caller_id, [offset + size]) if more else ""
        return Page(await self._hydrate(shown), next_token)

    async def _rank(self, caller_id: int) -> list[int]:
        """Up to ``MAX_SUGGESTIONS`` accounts: friends of friends, most followed by the
        caller's followees first; then (for a caller who follows nobody, or to fill up) the
        most followed accounts."""
        ranked = await self._store.friends_of_friends(caller_id, MAX_SUGGESTIONS)
        if len(ranked) < MAX_SUGGESTIONS:
            seen = set(ranked)
            popular = await self._store.most_followed(caller_id, MAX_SUGGESTIONS + len(ranked))
            ranked += [user_id for user_id in popular if user_id not in seen]
        return ranked[:MAX_SUGGESTIONS]

    async def _hydrate(self, ids: Sequence[int]) -> list[bytes]:
        """Serialized BASIC summaries in the order given; an id the users service does not know
        is shown by id alone."""
        if not ids:
            return []
        found = await self._directory.serialized(ids)
        return [found.get(user_id) or _by_id_alone(user_id) for user_id in ids]

    async def relationship(self, source_id: int, target_id: int) -> Relationship:
        return await self._store.relationship(source_id, target_id)

    async def counts(self, user_ids: Sequence[int]) -> list[FollowCounts]:
        if len(user_ids) > MAX_COUNT_IDS:
            raise InvalidArgument.field("user_ids", f"at most {MAX_COUNT_IDS} ids")
        found = await self._counts.counts(user_ids)
        return [found.get(user_id, FollowCounts(user_id)) for user_id in user_ids]

    async def check(self, pairs: Sequence[tuple[int, int]]) -> list[bool]:
        if len(pairs) > MAX_CHECK_EDGES:
            raise InvalidArgument.field("edges", f"at most {MAX_CHECK_EDGES} edges")
        return await self._store.check(pairs)

    async def following_ids(
        self, user_id: int, min_follower_count: int, size: int, token: str
    ) -> Page[int]:
        if min_follower_count < 0:
            raise InvalidArgument.field("min_follower_count", "must not be negative")
        position = decode_ints(token, f"following-ids:{min_follower_count}", user_id, 1)
        after = None if position is None else position[0]
        ids = await self._store.following_ids(user_id, min_follower_count, after, size + 1)
        shown = ids[:size]
        next_token = (
            encode_token(f"following-ids:{min_follower_count}", user_id, [shown[-1]])
            if len(ids) > size
            else ""
        )
        return Page(shown, next_token)

    def stream_followers(self, user_id: int, batch_size: int) -> AsyncIterator[list[int]]:
        return self._store.stream_followers(user_id, batch_size)

    async def add_user(self, user_id: int) -> None:
        """Gives a new account its node, unless the account is gone by now: its
        ``users.created`` redelivered after its ``users.deleted`` was applied (a failed
        delivery is retried later while the next ones go on), or replayed alone, must not bring
        back the node the erasure removed."""
        if await self._directory.serialized([user_id]):
            await self._store.ensure_user(user_id)

    async def erase_user(self, user_id: int) -> None:
        """Removes every follow of a deleted account, both ways, and then its node and what the
        caches keep of it. Each follow goes as an unfollow goes: the other user's count moves,
        ``graph.unfollowed`` is published (timelines and search correct themselves from it), and
        the change is counted for the readers that keep counts; ``ERASE_BATCH`` follows a
        transaction, so an account with millions of followers is erased in bounded steps, and an
        erasure cut short is finished by running it again (a batch is all or nothing: no count
        moves twice). A follow made during the erasure is removed by the next batch."""
        while True:
            removed = await self._store.remove_follows(user_id, ERASE_BATCH)
            await asyncio.gather(*(self._changes.changed(a, b) for a, b in removed))
            if len(removed) < ERASE_BATCH and await self._store.remove_user(user_id):
                break
        await self._kept.forget(user_id)


def _by_id_alone(user_id: int) -> bytes:
    return user_pb2.User(id=user_id).SerializeToString()
