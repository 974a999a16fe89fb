"""The home timeline domain: reading pages (fanned-out ids + celebrity merge), cold rebuilds,
and what the fanout worker does for each event. Plain Python over the ports."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncGenerator, AsyncIterator, Container, Sequence

from services.platform import revocations
from services.platform.background import rounds
from services.platform.caches.tweet_cache import ReadyTweet
from services.platform.caches.user_timelines import ids_below
from services.platform.errors import InvalidArgument
from services.platform.paging import HOME_TIMELINE, Page, decode_int, encode_token
from services.timelines.ports import FanoutParts, Graph, LiveUpdates, TimelineStore, Tweets

#: Extra ids read beyond the page size, so deletions and duplicate retweets rarely need a
#: second round.
SLACK = 20
#: Rounds of reading a page may take when many of its entries were deleted or duplicates.
MAX_ROUNDS = 5
#: Followers per batch of the fanout (one Redis script call each), and batches in flight.
FANOUT_BATCH = 1000
FANOUT_WINDOW = 2
#: Followers a fanout pushes itself before it shares the rest in parts of this size
#: (``TimelineService.fan_out``): above the default celebrity threshold, so only deployments
#: that fan out on write to larger followings split a fanout.
FANOUT_PART = 10_000
#: BatchGetTweets takes at most this many ids.
HYDRATE_CHUNK = 100
#: ListRecentTweetIds takes at most this many authors.
AUTHOR_CHUNK = 5000
#: A stream sends at most this many tweets from before it started.
CATCH_UP = 100


def merge_ids(lists: Sequence[Sequence[int]], *, before: int | None, limit: int) -> list[int]:
    """The newest ``limit`` distinct ids below ``before`` of ``lists``, each newest first (a
    celebrity's recent ids run to the timeline's length: each is entered where ``before``
    falls and read no further than the page needs)."""
    merged: list[int] = []
    for tweet_id in heapq.merge(*(ids_below(ids, before) for ids in lists), reverse=True):
        if not merged or tweet_id != merged[-1]:
            merged.append(tweet_id)
            if len(merged) == limit:
                break
    return merged


class _Pushes:
    """Pushes one tweet to batches of timelines, at most ``FANOUT_WINDOW`` batches in Redis at
    once (a huge fanout never queues its batches ahead of other clients' commands); they are
    all in once ``group`` is done. ``written`` counts the timelines written."""

    def __init__(self, store: TimelineStore, tweet_id: int, group: asyncio.TaskGroup) -> None:
        self._store = store
        self._tweet_id = tweet_id
        self._group = group
        self._window = asyncio.Semaphore(FANOUT_WINDOW)
        self.written = 0

    def push(self, user_ids: Sequence[int]) -> None:
        self._group.create_task(self._push(user_ids))

    async def _push(self, user_ids: Sequence[int]) -> None:
        async with self._window:
            pushed = await self._store.push(user_ids, [self._tweet_id])
            self.written += pushed  # not ``+= await``: that reads ``written`` before waiting


class TimelineService:
    def __init__(  # noqa: PLR0913  (one port per store and per service it calls)
        self,
        store: TimelineStore,
        graph: Graph,
        tweets: Tweets,
        live: LiveUpdates,
        *,
        celebrity_threshold: int,
        length: int,
        deleted: Container[int] = revocations.REVOKED,
        parts: FanoutParts | None = None,
        part_size: int = FANOUT_PART,
    ) -> None:
        """``deleted`` holds the accounts deleted lately (this process's list); ``parts``, if
        given, takes the parts of large fanouts to every worker (``fan_out``)."""
        self._store = store
        self._parts = parts
        self._part_size = part_size
        self._deleted = deleted
        self._graph = graph
        self._tweets = tweets
        self._live = live
        self._threshold = celebrity_threshold
        self._length = length

    # Reading ---------------------------------------------------------------------------------

    async def page(self, user_id: int, size: int, token: str) -> Page[ReadyTweet]:
        """A page of ``user_id``'s home timeline, newest first."""
        before = decode_int(token, HOME_TIMELINE, 0)
        shown, next_before = await self._page(user_id, size, before)
        next_token = "" if next_before is None else encode_token(HOME_TIMELINE, 0, next_before)
        return Page(shown, next_token)

    async def _page(
        self, user_id: int, size: int, before: int | None
    ) -> tuple[list[ReadyTweet], int | None]:
        """The page's tweets, ids < before, and the id the next page continues below (None:
        the end)."""
        celebrities_task = asyncio.ensure_future(self._celebrity_ids(user_id))
        try:
            shown: list[ReadyTweet] = []
            seen: set[int] = set()
            cursor = before
            for _ in range(MAX_ROUNDS):
                want = size - len(shown) + SLACK
                home, exists = await self._store.read(user_id, cursor, want)
                if not exists:
                    await self.rebuild(user_id)
                    home, _ = await self._store.read(user_id, cursor, want)
                celebrity = await celebrities_task
                candidates = merge_ids([home, *celebrity], before=cursor, limit=want)
                home_more = len(home) >= want
                if home_more:
                    # Below the last home id read there may be home ids not read yet.
                    candidates = [i for i in candidates if i >= home[-1]]
                if not candidates:
                    return shown, None
                gone: list[int] = []
                consumed = await self._fill(shown, seen, gone, candidates, size)
                # The events that take a deleted tweet out can miss a timeline (a deleted
                # account's tweets, erased after graph dropped its followers, reach none of
                # them): a read that meets one of its entries takes it out.
                await self._store.remove([user_id], [i for i in gone if i in home])
                cursor = consumed
                more = home_more or any(ids and ids[-1] < consumed for ids in celebrity)
                if not more and consumed == candidates[-1]:
                    return shown, None
                if len(shown) >= size:
                    return shown, consumed
            return shown, cursor
        finally:
            celebrities_task.cancel()

    async def _fill(
        self,
        shown: list[ReadyTweet],
        seen: set[int],
        gone: list[int],
        candidates: list[int],
        size: int,
    ) -> int:
        """Hydrates candidates in order into ``shown`` until it has ``size``, and those whose
        tweets are gone (deleted, or unknown) into ``gone``; the last id consumed (the next
        page continues below it)."""
        consumed = candidates[-1]
        for start in range(0, len(candidates), HYDRATE_CHUNK):
            chunk = candidates[start : start + HYDRATE_CHUNK]
            found = {t.id: t for t in await self._tweets.ready(chunk)}
            gone.extend(i for i in chunk if i not in found)
            for tweet_id in chunk:
                tweet = found.get(tweet_id)
                if tweet is not None and tweet.original_id not in seen:
                    seen.add(tweet.original_id)
                    shown.append(tweet)
                if len(shown) >= size:
                    return tweet_id
        return consumed

    async def stream(
        self, user_id: int, after: int, heartbeat_seconds: float
    ) -> AsyncGenerator[tuple[list[ReadyTweet], list[int]]]:
        """``user_id``'s home timeline as it changes: first (at once, even empty) the tweets
        newer than ``after`` (none if 0), then each change as (tweets that entered, ids that
        left), an empty one after ``heartbeat_seconds`` without news."""
        if after < 0:
            raise InvalidArgument.field("after_tweet_id", "must not be negative")
        async with self._live.follow(user_id) as feed:  # before the catch-up: nothing missed
            tweets = await self.newer(user_id, after, CATCH_UP) if after > 0 else []
            sent = {tweet.id for tweet in tweets}
            yield tweets, []
            quiet_since = time.monotonic()
            for _ in rounds():
                change = await feed.next(heartbeat_seconds)
                if change is None:
                    if time.monotonic() - quiet_since >= heartbeat_seconds:
                        quiet_since = time.monotonic()
                        yield [], []
                    continue
                fresh = sorted((i for i in change.added if i not in sent), reverse=True)
                tweets = await self.hydrate(fresh) if fresh else []
                sent.update(tweet.id for tweet in tweets)
                if tweets or change.removed:
                    quiet_since = time.monotonic()
                    yield tweets, change.removed

    async def newer(self, user_id: int, after: int, limit: int) -> list[ReadyTweet]:
        """Up to ``limit`` tweets newer than ``after`` (fanned out and celebrity), newest
        first: what a stream sends before the live entries."""
        home, exists = await self._store.read(user_id, None, limit)
        if not exists:
            await self.rebuild(user_id)
            home, _ = await self._store.read(user_id, None, limit)
        celebrity = await self._celebrity_ids(user_id)
        ids = [i for i in merge_ids([home, *celebrity], before=None, limit=limit) if i > after]
        return await self.hydrate(ids)

    async def hydrate(self, ids: Sequence[int]) -> list[ReadyTweet]:
        found: list[ReadyTweet] = []
        for start in range(0, len(ids), HYDRATE_CHUNK):
            found.extend(await self._tweets.ready(ids[start : start + HYDRATE_CHUNK]))
        return found

    async def _celebrity_ids(self, user_id: int) -> list[Sequence[int]]:
        """The newest ids of each celebrity ``user_id`` follows, newest first."""
        celebrities = await self._celebrities_followed(user_id)
        return await self._tweets.newest_ids(celebrities) if celebrities else []

    async def _celebrities_followed(self, user_id: int) -> list[int]:
        """The celebrities ``user_id`` follows, kept in the store with the count of changes of
        their followings they were computed at; asked of graph again when the count has moved
        on (the reader followed or unfollowed someone: it shows at once) or the store forgot
        them (see ``followed`` and ``_celebrity_now``)."""
        kept, stamp, changes = await self._store.celebrities_followed.kept(user_id)
        if kept and kept[0] == changes:
            return kept[1:]
        celebrities = await self._graph.following_ids(user_id, self._threshold + 1)
        await self._store.celebrities_followed.fill(
            {user_id: [changes, *celebrities]}, {user_id: stamp}
        )
        return celebrities

    # Cold timelines ---------------------------------------------------------------------------

    async def rebuild(self, user_id: int) -> None:
        """The timeline from who ``user_id`` follows (celebrities excepted: merged on read)
        and their own tweets: the newest ``length`` ids, one ListRecentTweetIds per 5000
        authors."""
        everyone = await self._graph.following_ids(user_id, 0)
        celebrities = set(await self._graph.following_ids(user_id, self._threshold + 1))
        authors = [user_id, *(a for a in everyone if a not in celebrities)]
        found: list[int] = []
        for start in range(0, len(authors), AUTHOR_CHUNK):
            found.extend(
                await self._tweets.recent_ids(authors[start : start + AUTHOR_CHUNK], self._length)
            )
        await self._store.store(user_id, sorted(set(found), reverse=True)[: self._length])

    # Fanout -----------------------------------------------------------------------------------

    async def fan_out(self, tweet_id: int, author_id: int) -> int:
        """Puts a new tweet or retweet into its author's timeline and, unless the author is a
        celebrity, into every follower's that exists. Idempotent. Returns timelines written.

        Each batch of followers is pushed as soon as it is read (from the store, or as graph
        streams them), ``FANOUT_WINDOW`` batches in Redis at once while the next are read. A
        fanout to more than ``part_size`` followers is shared when the service has ``parts``:
        this call pushes the first ``part_size`` and hands every further ``part_size`` to
        ``parts`` as the followers are read, for whichever worker is free (``push_part``); the
        parts are handed over (stored in the stream) before this returns."""
        share = self._parts.share if self._parts else None
        part: list[int] = []
        kept_here = 0
        async with asyncio.TaskGroup() as group:
            pushes = _Pushes(self._store, tweet_id, group)
            audience = [author_id]  # the author's own timeline goes with the first batch
            async for followers in self._fanned_out_to(author_id):
                if share is None or kept_here < self._part_size:
                    kept_here += len(followers)
                    pushes.push([*audience, *followers])
                    audience = []
                    continue
                part.extend(followers)
                if len(part) >= self._part_size:
                    await share(tweet_id, author_id, part)
                    part = []
            if share is not None and part:
                await share(tweet_id, author_id, part)
            if audience:  # no follower to push to
                pushes.push(audience)
        return pushes.written

    async def push_part(self, tweet_id: int, follower_ids: Sequence[int]) -> int:
        """A part of a shared fanout (``fan_out``), pushed as fan_out pushes its own followers.
        Idempotent. Returns timelines written."""
        async with asyncio.TaskGroup() as group:
            pushes = _Pushes(self._store, tweet_id, group)
            for start in range(0, len(follower_ids), FANOUT_BATCH):
                pushes.push(follower_ids[start : start + FANOUT_BATCH])
        return pushes.written

    async def _fanned_out_to(self, author_id: int) -> AsyncIterator[list[int]]:
        """The followers a new tweet of ``author_id`` is pushed to, in batches of at most
        ``FANOUT_BATCH``: none for a celebrity. The follower count and (unless above the
        threshold) the followers are kept in the store with the count of changes of the
        author's followers they were read at, so an author who posts again is fanned out
        without asking graph; asked of graph again when the count of changes has moved on (a
        new follower gets the next tweet), the store forgot them (see ``followed``) or holds no
        ids for a count this threshold fans out."""
        kept, stamp, changes = await self._store.followers.kept(author_id)
        if kept and kept[0] == changes and (kept[1] > self._threshold or len(kept) == kept[1] + 2):
            if kept[1] <= self._threshold:
                for start in range(2, len(kept), FANOUT_BATCH):
                    yield kept[start : start + FANOUT_BATCH]
            return
        count = await self._graph.follower_count(author_id)
        followers: list[int] = []
        if count <= self._threshold:
            async for page in self._graph.stream_followers(author_id, FANOUT_BATCH):
                followers.extend(page)
                yield page
        await self._store.followers.fill(
            {author_id: [changes, count, *followers]}, {author_id: stamp}
        )

    async def take_out(self, tweet_id: int, author_id: int) -> None:
        """A deleted tweet leaves its author's and followers' timelines. Idempotent."""
        await self._store.remove([author_id], [tweet_id])
        async for followers in self._graph.stream_followers(author_id, FANOUT_BATCH):
            await self._store.remove(followers, [tweet_id])

    async def followed(self, follower_id: int, followee_id: int) -> None:
        """The followee's recent tweets join the follower's timeline (celebrities' are merged
        on read instead); the celebrities the follower follows are asked of graph again."""
        await self._forget_follows(follower_id, followee_id)
        if await self._celebrity_now(followee_id):
            return
        ids = await self._tweets.recent_ids([followee_id], self._length)
        await self._store.push([follower_id], ids)

    async def unfollowed(self, follower_id: int, followee_id: int) -> None:
        """The followee's recent tweets leave the follower's timeline."""
        await self._forget_follows(follower_id, followee_id)
        await self._celebrity_now(followee_id)
        if follower_id == followee_id:
            return
        ids = await self._tweets.recent_ids([followee_id], self._length)
        await self._store.remove([follower_id], ids)

    async def erase(self, user_id: int) -> None:
        """A deleted account leaves the timelines: what is kept under it goes here. What others
        keep of it goes with the ``graph.unfollowed`` graph publishes for each of its follows:
        its tweets out of its followers' timelines, and every list that holds it (the
        celebrities each follower follows, the followers of each account it followed)
        forgotten. Its tweets that those miss (erased before the unfollow was handled) leave a
        timeline at its owner's next read (``_page``), or with it when its owner stays away.
        Idempotent."""
        await self._store.erase(user_id)

    async def _forget_follows(self, follower_id: int, followee_id: int) -> None:
        """What is kept of the follower's followings and the followee's followers is forgotten
        (graph's counts of changes already tell readers; this is for a count that was lost).
        Nothing is forgotten of a deleted account: the unfollows graph publishes for its
        follows may come after its erasure, and a forget's mark would be kept under its id."""
        await asyncio.gather(
            self._store.celebrities_followed.forget(self._living([follower_id])),
            self._store.followers.forget(self._living([followee_id])),
        )

    def _living(self, user_ids: Sequence[int]) -> list[int]:
        return [user_id for user_id in user_ids if user_id not in self._deleted]

    async def _celebrity_now(self, author_id: int) -> bool:
        """Whether the author is a celebrity now. One whose follower count just crossed the
        threshold is a celebrity for their followers' reads from now on, or no longer one:
        every follower's kept celebrities are forgotten (once, by whoever saw the change)."""
        is_celebrity = await self._graph.follower_count(author_id) > self._threshold
        if await self._store.mark_celebrity(author_id, is_celebrity=is_celebrity):
            async for followers in self._graph.stream_followers(author_id, FANOUT_BATCH):
                await self._store.celebrities_followed.forget(followers)
        return is_celebrity
