"""In-memory adapters of the timelines ports, for the domain's unit tests (each is held to the
real adapter's behaviour by its contract suite under tests/contracts/timelines)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from chirp.tweets.v1 import tweet_pb2

from services.platform.caches.tweet_cache import ReadyTweet
from services.timelines.model import LiveChange


@dataclass
class MemoryGraph:
    follows: set[tuple[int, int]] = field(default_factory=set)  # (follower, followee)
    following_calls: int = 0
    follower_calls: int = 0

    def followers(self, user_id: int) -> list[int]:
        return sorted(a for a, b in self.follows if b == user_id)

    async def follower_count(self, user_id: int) -> int:
        self.follower_calls += 1
        return len(self.followers(user_id))

    async def stream_followers(self, user_id: int, batch_size: int) -> AsyncIterator[list[int]]:
        self.follower_calls += 1
        found = self.followers(user_id)
        for start in range(0, len(found), batch_size):
            yield found[start : start + batch_size]

    async def following_ids(self, user_id: int, min_follower_count: int) -> list[int]:
        self.following_calls += 1
        return sorted(
            b
            for a, b in self.follows
            if a == user_id and len(self.followers(b)) >= min_follower_count
        )


@dataclass
class MemoryTweets:
    tweets: dict[int, tweet_pb2.Tweet] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    batch_calls: int = 0

    def post(self, tweet_id: int, author: int, retweet_of: int = 0) -> int:
        tweet = tweet_pb2.Tweet(id=tweet_id, text=f"t{tweet_id}")
        tweet.author.id = author
        if retweet_of:
            tweet.retweet_of.id = retweet_of
        self.tweets[tweet_id] = tweet
        return tweet_id

    async def recent_ids(self, author_ids: Sequence[int], max_results: int) -> list[int]:
        ids = [
            i for i, t in self.tweets.items() if t.author.id in author_ids and i not in self.deleted
        ]
        return sorted(ids, reverse=True)[:max_results]

    async def newest_ids(self, author_ids: Sequence[int]) -> list[Sequence[int]]:
        return [await self.recent_ids([author], 800) for author in author_ids]

    async def ready(self, ids: Sequence[int]) -> list[ReadyTweet]:
        """As the tweets service's cache serves them: each id once, a retweet with its original
        in it."""
        assert len(ids) <= 100
        self.batch_calls += 1
        return [
            self._ready(i)
            for i in dict.fromkeys(ids)
            if i in self.tweets
            and i not in self.deleted
            and self.tweets[i].retweet_of.id not in self.deleted
        ]

    def _ready(self, tweet_id: int) -> ReadyTweet:
        tweet = self.tweets[tweet_id]
        original_id = tweet.retweet_of.id
        if not original_id:
            return ReadyTweet(tweet_id, tweet_id, tweet.SerializeToString())
        shown = tweet_pb2.Tweet()
        shown.CopyFrom(tweet)
        shown.retweet_of.CopyFrom(self.tweets[original_id])
        return ReadyTweet(tweet_id, original_id, shown.SerializeToString())


@dataclass
class MemoryIdLists:
    lists: dict[int, list[int]] = field(default_factory=dict)
    forgotten: dict[int, int] = field(default_factory=dict)

    async def get(self, owners: Sequence[int]) -> tuple[dict[int, list[int]], dict[int, bytes]]:
        found = {o: self.lists[o] for o in owners if o in self.lists}
        return found, {o: self._stamp(o) for o in owners}

    async def fill(self, lists: dict[int, list[int]], stamps: dict[int, bytes]) -> None:
        for owner, ids in lists.items():
            if stamps.get(owner) == self._stamp(owner):
                self.lists[owner] = ids

    def _stamp(self, owner: int) -> bytes:
        return f"{self.forgotten.get(owner, 0)}:{self.lists.get(owner)}".encode()

    async def forget(self, owners: Sequence[int]) -> None:
        for owner in owners:
            self.lists.pop(owner, None)
            self.forgotten[owner] = self.forgotten.get(owner, 0) + 1


@dataclass
class MemoryCountedIdLists(MemoryIdLists):
    changes: dict[int, int] = field(default_factory=dict)  # as graph counts them

    async def kept(self, owner: int) -> tuple[list[int] | None, bytes, int]:
        found, stamps = await self.get([owner])
        return found.get(owner), stamps[owner], self.changes.get(owner, 0)


class MemoryLive:
    """Live changes published in memory, to whoever follows the timeline at that moment."""

    def __init__(self) -> None:
        self._feeds: dict[int, list[asyncio.Queue[LiveChange]]] = {}

    def publish(self, user_id: int, change: LiveChange) -> None:
        for queue in self._feeds.get(user_id, []):
            queue.put_nowait(change)

    @contextlib.asynccontextmanager
    async def follow(self, user_id: int) -> AsyncIterator[_QueueFeed]:
        queue: asyncio.Queue[LiveChange] = asyncio.Queue()
        self._feeds.setdefault(user_id, []).append(queue)
        try:
            yield _QueueFeed(queue)
        finally:
            self._feeds[user_id].remove(queue)


class _QueueFeed:
    def __init__(self, queue: asyncio.Queue[LiveChange]) -> None:
        self._queue = queue

    async def next(self, wait_seconds: float) -> LiveChange | None:
        try:
            return await asyncio.wait_for(self._queue.get(), wait_seconds)
        except TimeoutError:
            return None


@dataclass
class MemoryStore:
    length: int = 800
    timelines: dict[int, set[int]] = field(default_factory=dict)
    celebrities_followed: MemoryCountedIdLists = field(default_factory=MemoryCountedIdLists)
    followers: MemoryCountedIdLists = field(default_factory=MemoryCountedIdLists)
    celebrities: set[int] = field(default_factory=set)
    pushed_batch_sizes: list[int] = field(default_factory=list)
    #: Told what enters and leaves each timeline, as the Redis store's scripts publish it.
    live: MemoryLive = field(default_factory=MemoryLive)

    async def read(self, user_id: int, before: int | None, limit: int) -> tuple[list[int], bool]:
        if user_id not in self.timelines:
            return [], False
        ids = sorted(self.timelines[user_id], reverse=True)
        return [i for i in ids if before is None or i < before][:limit], True

    async def store(self, user_id: int, ids: Sequence[int]) -> None:
        self.timelines.setdefault(user_id, set()).update(ids)
        self._trim(user_id)

    async def push(self, user_ids: Sequence[int], ids: Sequence[int]) -> int:
        self.pushed_batch_sizes.append(len(user_ids))
        await asyncio.sleep(0)  # a round trip: concurrent pushes interleave, as on Redis
        if not ids:
            return 0
        written = 0
        for user_id in user_ids:
            if user_id in self.timelines:
                timeline = self.timelines[user_id]
                added = [i for i in dict.fromkeys(ids) if i not in timeline]
                timeline.update(ids)
                self._trim(user_id)
                if added:
                    self.live.publish(user_id, LiveChange(added=added))
                written += 1
        return written

    async def remove(self, user_ids: Sequence[int], ids: Sequence[int]) -> None:
        for user_id in user_ids:
            timeline = self.timelines.get(user_id, set())
            removed = [i for i in dict.fromkeys(ids) if i in timeline]
            timeline.difference_update(ids)
            if removed:
                self.live.publish(user_id, LiveChange(removed=removed))

    async def mark_celebrity(self, author_id: int, *, is_celebrity: bool) -> bool:
        changed = (author_id in self.celebrities) != is_celebrity
        if changed:
            self.celebrities ^= {author_id}
        return changed

    async def erase(self, user_id: int) -> None:
        self.timelines.pop(user_id, None)
        for lists in (self.celebrities_followed, self.followers):
            lists.lists.pop(user_id, None)
            lists.forgotten.pop(user_id, None)
        self.celebrities.discard(user_id)

    def _trim(self, user_id: int) -> None:
        self.timelines[user_id] = set(sorted(self.timelines[user_id])[-self.length :])
