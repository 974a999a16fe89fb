"""The tweets domain: posting, reading, editing, deleting, likes, retweets and timelines.

Writes that cannot be one Cassandra batch follow one pattern, so an interrupted request is
finished by its retry instead of leaving counts and events half done:

* **claim, record, count.** A like or retweet first claims (tweet, user) with a lightweight
  transaction, then writes its rows and its event in one logged batch (the outbox), then bumps
  the counter, once, by the request whose claim took it. Concurrent likes by many users count
  exactly once each; a repeated like finds its rows written and does nothing; a like
  interrupted before its batch is completed by its retry (rows and event, under the claim's
  ids, so a retry racing its first try writes the same rows and the same event id, which
  JetStream's duplicate window drops). A process that dies between the claim and the counter
  leaves that count one short, as a post's counters are: one lightweight transaction a like,
  not two, for the price of that window.
* **record, then mark.** A delete (or an unretweet) writes its index removals and its event
  first, then marks the tweet deleted with a lightweight transaction; only the call that marked
  it lowers the counters. An interrupted delete is finished by its retry.
* **save the old text, then swap.** An edit first writes the replaced text as a version (the same
  row for every concurrent editor of the same state), then swaps the text in only if the tweet
  is unchanged since it was read; the loser of a race gets FAILED_PRECONDITION.

A post is one logged batch (tweet, timeline row, reply index, event), so an acknowledged post
always has its event. Counters are Cassandra counters, updated after the batch: a process that
dies between the two leaves a count one off (never an event lost).

Deleted tweets, and retweets of them, are gone for readers at once; the retweets themselves are
undone by ``purge`` when the ``tweets.deleted`` event comes back (``consumers/cleanup.py``).

A deleted account is erased by ``erase_account`` (``users.deleted``, ``consumers/accounts.py``):
its likes undone as ``unlike`` undoes them, then its timeline walked, each tweet deleted as
``delete`` and ``purge`` delete it and each retweet undone as ``unretweet`` undoes it (with their
events and counts, so the other services and other people's counts follow), and each of them
then erased with what is keyed by it (``TweetStore.erase``), and last the account's own rows.
The rows a walk reads (a like's row, a timeline row) are the last thing removed of each item,
so what a crash leaves undone is what the next walk finds; the claims and marks above keep a
second pass from counting anything twice. An erased tweet's row is gone, not marked deleted: its
id reads as an unknown one (NOT_FOUND).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import structlog

from services.platform import revocations
from services.platform.caches.user_timelines import KEPT_IDS, KeptIds, ids_below
from services.platform.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from services.platform.ids import CHIRP_EPOCH_MS, IdGenerator, compose
from services.platform.outbox import new_event_id
from services.platform.paging import USER_TWEETS, Page, decode_int, decode_str, encode_token
from services.platform.ratelimit import RateLimiter
from services.tweets import rules, text
from services.tweets.convert import tweet_message
from services.tweets.model import (
    Attachment,
    Author,
    Counts,
    Tweet,
    TweetCreated,
    TweetDeleted,
    TweetEdited,
    TweetLiked,
    TweetRetweeted,
    TweetUnliked,
    TweetUnretweeted,
    TweetView,
    Version,
    VersionView,
)
from services.tweets.ports import (
    Lease,
    Listed,
    MediaLibrary,
    TweetCache,
    TweetStore,
    UserDirectory,
    UserTimelines,
)
from services.tweets.timeline import Slice, read_slice

log = structlog.get_logger()

#: How long a request repeating an idempotency key waits for the first one to finish writing.
IDEMPOTENCY_WAIT_SECONDS = 3.0
#: Reads a list page makes at most to fill itself past deleted entries.
MAX_FILL_ROUNDS = 5
#: Authors read at once by ListRecentTweetIds.
RECENT_CONCURRENCY = 32
#: Retweets of a deleted tweet undone at once.
RETWEETS_UNDONE_AT_ONCE = 100
#: Likes, or tweets and retweets, of an erased account read and undone at once.
ERASED_AT_ONCE = 50

C = TypeVar("C", int, str)


def now_ms() -> datetime:
    """The time, to the millisecond Cassandra stores, so what is written reads back equal."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Draft:
    text: str
    reply_to_id: int = 0
    media_ids: tuple[int, ...] = ()
    idempotency_key: str = ""


class TweetService:
    def __init__(  # noqa: PLR0913, PLR0917  (one port per store and per service it calls)
        self,
        store: TweetStore,
        cache: TweetCache,
        user_timelines: UserTimelines,
        users: UserDirectory,
        media: MediaLibrary,
        ids: IdGenerator,
        posts: RateLimiter,
        clock: Callable[[], datetime] = now_ms,
        deleted: Container[int] = revocations.REVOKED,
    ) -> None:
        """``posts`` limits each account's posts (replies included); ``deleted`` holds the
        accounts deleted lately (this process's list)."""
        self._store = store
        self._deleted = deleted
        self._cache = cache
        self._user_timelines = user_timelines
        self._users = users
        self._media = media
        self._ids = ids
        self._posts = posts
        self._clock = clock

    # Posting.

    async def create(self, author_id: int, draft: Draft) -> TweetView:
        await self._posts.hit(str(author_id))
        body = text.normalize(draft.text)
        problems = [
            *text.violations(body, has_media=bool(draft.media_ids)),
            *rules.media_violations(draft.media_ids),
            *rules.idempotency_key_violations(draft.idempotency_key),
        ]
        if problems:
            raise InvalidArgument(*problems)
        # A key used before answers with its tweet; one whose first request died is reused.
        key = draft.idempotency_key
        reserved = await self._store.idempotent_tweet(author_id, key) if key else None
        if reserved is not None and (finished := await self._repeated(author_id, reserved)):
            return finished

        reply_to_id = 0
        if draft.reply_to_id:
            reply_to_id = (await self._original(draft.reply_to_id, "reply_to_id")).id
        entities = await self._entities(body)

        tweet_id = reserved or await self._ids.issue()
        if key and reserved is None:
            fresh = tweet_id
            tweet_id = await self._store.claim_idempotency_key(author_id, key, fresh)
            if tweet_id != fresh and (finished := await self._repeated(author_id, tweet_id)):
                return finished
        # The media service checks the photos (the author's, not on another tweet) and claims
        # them for this id before the tweet is written; a retry with the same id attaches again.
        photos = (
            await self._media.attach(tweet_id, author_id, draft.media_ids)
            if draft.media_ids
            else []
        )
        tweet = Tweet(
            id=tweet_id,
            author_id=author_id,
            text=body,
            entities=entities,
            reply_to_id=reply_to_id,
            media_ids=draft.media_ids,
        )
        return await self._post(tweet, tuple(photos))

    async def _post(self, tweet: Tweet, photos: tuple[Attachment, ...] = ()) -> TweetView:
        view = TweetView(tweet, await self._author(tweet.author_id), media=photos)
        await self._store.create(tweet, TweetCreated(new_event_id(), self._clock(), view))
        parent = tweet.reply_to_id
        # Once the tweet is stored, the rest is independent: sent at once (the Redis commands
        # go out in one write, next to the counters').
        await asyncio.gather(
            self._store.add_tweet_count(tweet.author_id, 1),
            self._user_timelines.wrote(tweet.author_id, added=tweet.id),
            self._cache.put(_cacheable([view])),
            *([self._replied_to(parent)] if parent else []),
        )
        return view

    async def _replied_to(self, parent_id: int) -> None:
        """Counts a reply to ``parent_id``; its cached copy is forgotten only after, so no
        read can cache the old count again."""
        await self._store.add_counts(parent_id, replies=1)
        await self._cache.forget([parent_id])

    async def _repeated(self, author_id: int, tweet_id: int) -> TweetView | None:
        """``_finished``, with the write counted again: the first request may have died between
        storing the tweet and counting it, which would leave it out of its author's kept ids
        (counting a write twice only makes readers read again)."""
        finished = await self._finished(tweet_id)
        if finished is not None:
            await self._user_timelines.wrote(author_id, added=tweet_id)
        return finished

    async def _finished(self, tweet_id: int) -> TweetView | None:
        """The tweet an earlier request with the same idempotency key created, once it is
        written; None if it never was (that request died: this one finishes the job)."""
        deadline = asyncio.get_running_loop().time() + IDEMPOTENCY_WAIT_SECONDS
        while True:
            tweet = (await self._store.tweets([tweet_id])).get(tweet_id)
            if tweet is not None:
                if tweet.deleted:
                    raise NotFound(
                        f"tweet {tweet_id}, posted with this idempotency key, was deleted"
                    )
                return (await self._hydrate([tweet]))[0]
            if asyncio.get_running_loop().time() > deadline:
                return None
            await asyncio.sleep(0.05)

    async def _entities(self, body: str) -> text.Entities:
        names = text.mentioned_usernames(body)
        found = await self._users.by_usernames(names) if names else {}
        return text.entities(body, {name: (user.id, user.username) for name, user in found.items()})

    # Reading.

    async def get(self, tweet_id: int) -> bytes:
        found = (await self.ready([tweet_id])).get(tweet_id)
        if found is None:
            raise NotFound(f"tweet {tweet_id} not found")
        return found

    async def batch_get(self, ids: Sequence[int]) -> list[bytes]:
        rules.check_batch(ids, rules.MAX_BATCH_TWEETS, "ids")
        unique = list(dict.fromkeys(ids))
        found = await self.ready(unique)
        return [found[tweet_id] for tweet_id in unique if tweet_id in found]

    async def ready(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Readable tweets by id as serialized ``Tweet`` messages, ready to send (a retweet with
        its original in it): what the cache holds as it is, without decoding it into views and
        encoding it again (that cost about 40 µs a tweet); the rest through ``views``, which
        fills the cache."""
        lookup = await self._cache.ready(ids)
        found = {tweet_id: tweet.data for tweet_id, tweet in lookup.ready.items()}
        if lookup.missing:
            views = await self.views(lookup.missing)
            found.update((i, tweet_message(view).SerializeToString()) for i, view in views.items())
        return found

    async def views(self, ids: Sequence[int]) -> dict[int, TweetView]:
        """Readable tweets by id: deleted and unknown ids, and retweets of deleted tweets, are
        left out."""
        shallow = await self._shallow(ids)
        wanted = {v.tweet.retweet_of_id for v in shallow.values() if v.tweet.is_retweet}
        originals = await self._shallow([i for i in wanted if i not in shallow])
        readable = {}
        for tweet_id, view in shallow.items():
            if not view.tweet.is_retweet:
                readable[tweet_id] = view
                continue
            original_id = view.tweet.retweet_of_id
            original = shallow.get(original_id) or originals.get(original_id)
            if original is not None and not original.tweet.is_retweet:
                readable[tweet_id] = replace(view, retweet_of=original)
        return readable

    async def _shallow(self, ids: Sequence[int]) -> dict[int, TweetView]:
        """Live tweets by id from the cache, the misses from the store (and then cached)."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return {}
        cached = await self._cache.get(unique)
        found = {tweet_id: view for tweet_id, view in cached.items() if view is not None}
        misses = [tweet_id for tweet_id in unique if tweet_id not in cached]
        if misses:
            found.update(await self._load(misses, await self._cache.lease(misses)))
        return found

    async def _load(self, ids: Sequence[int], lease: Lease | None) -> dict[int, TweetView]:
        """Live tweets by id from the store, cached under ``lease`` (the deleted buried)."""
        tweets = await self._store.tweets(ids)
        loaded = await self._hydrate([t for t in tweets.values() if not t.deleted])
        buried = [t.id for t in tweets.values() if t.deleted]
        await self._cache.fill(_cacheable(loaded), buried, lease)
        return {view.id: view for view in loaded}

    async def _hydrate(self, tweets: Sequence[Tweet]) -> list[TweetView]:
        """Shallow views of stored tweets: with their counts and their authors' summaries."""
        counts, authors, photos = await asyncio.gather(
            self._store.counts([t.id for t in tweets if not t.is_retweet]),
            self._authors([t.author_id for t in tweets]),
            self._photos([media_id for t in tweets for media_id in t.media_ids]),
        )
        return [
            TweetView(
                t,
                authors.get(t.author_id, Author(t.author_id)),
                counts.get(t.id, Counts()),
                media=tuple(photos.get(media_id, Attachment(media_id)) for media_id in t.media_ids),
            )
            for t in tweets
        ]

    async def _photos(self, ids: Sequence[int]) -> dict[int, Attachment]:
        """Photos by id; none when the media service cannot answer (a tweet then shows its
        photos by id alone rather than failing)."""
        if not ids:
            return {}
        try:
            return await self._media.by_ids(ids)
        except Unavailable:
            log.warning("photos not hydrated: the media service is unavailable")
            return {}

    async def _authors(self, ids: Sequence[int]) -> dict[int, Author]:
        """Authors' summaries; none when the users service cannot answer (a tweet then shows
        its author's id alone rather than failing)."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return {}
        try:
            return await self._users.by_ids(unique)
        except Unavailable:
            log.warning("authors not hydrated: the users service is unavailable")
            return {}

    async def _author(self, user_id: int) -> Author:
        return (await self._authors([user_id])).get(user_id, Author(user_id))

    async def _original(self, tweet_id: int, field: str = "id") -> TweetView:
        """The readable tweet ``tweet_id`` names, or the original when it names a retweet."""
        view = (await self.views([tweet_id])).get(tweet_id)
        if view is None:
            what = "the tweet to reply to" if field == "reply_to_id" else "tweet"
            raise NotFound(f"{what} ({tweet_id}) not found")
        return view.retweet_of or view

    async def _recounted(self, view: TweetView) -> TweetView:
        counts = (await self._store.counts([view.id])).get(view.id, Counts())
        return replace(view, counts=counts)

    async def _live(self, tweet_id: int) -> Tweet:
        """The stored tweet, from the store itself (writes never decide on a cached copy)."""
        tweet = (await self._store.tweets([tweet_id])).get(tweet_id)
        if tweet is None or tweet.deleted:
            raise NotFound(f"tweet {tweet_id} not found")
        return tweet

    # Editing.

    async def edit(
        self, user_id: int, tweet_id: int, new_text: str, mask: Sequence[str]
    ) -> TweetView:
        rules.check_update_mask(mask)
        tweet = await self._live(tweet_id)
        if tweet.author_id != user_id:
            raise PermissionDenied("only its author can edit a tweet")
        if tweet.is_retweet:
            raise FailedPrecondition("a retweet has no text to edit; edit the original tweet")
        body = text.normalize(new_text)
        problems = text.violations(body, has_media=bool(tweet.media_ids), field="tweet.text")
        if problems:
            raise InvalidArgument(*problems)
        if body == tweet.text:
            return (await self._hydrate([tweet]))[0]

        versions = await self._store.versions(tweet.id)
        # A version saved for the current text belongs to an edit that never swapped it in.
        dangling = bool(versions) and versions[0].create_time == tweet.version_start
        replaced = len(versions) - dangling
        now = self._clock()
        rules.check_editable(tweet, replaced, now)
        edited = replace(tweet, text=body, entities=await self._entities(body), edit_time=now)
        await self._store.save_version(
            Version(tweet.id, replaced + 1, tweet.text, tweet.entities, tweet.version_start)
        )
        if not await self._store.replace_text(tweet, edited):
            raise FailedPrecondition("the tweet changed during this edit; read it and try again")
        view = (await self._hydrate([edited]))[0]
        await self._store.publish(TweetEdited(new_event_id(), now, view))
        await self._cache.put(_cacheable([view]))
        return view

    async def versions(self, tweet_id: int, size: int, token: str) -> Page[VersionView]:
        tweet = await self._live((await self._original(tweet_id, "tweet_id")).id)
        before = decode_int(token, "versions", tweet.id)
        versions = await self._store.versions(tweet.id)
        if versions and versions[0].create_time == tweet.version_start:
            versions = versions[1:]
        # Each version was replaced when the next one (or the current text) was written.
        replaced_at = [tweet.version_start, *(v.create_time for v in versions)]
        entries = [
            VersionView(version, replaced_at[index])
            for index, version in enumerate(versions)
            if before is None or version.number < before
        ]
        page = entries[:size]
        more = len(entries) > size
        return Page(
            page, encode_token("versions", tweet.id, page[-1].version.number) if more else ""
        )

    # Deleting.

    async def delete(self, user_id: int, tweet_id: int) -> None:
        tweet = await self._live(tweet_id)
        if tweet.author_id != user_id:
            raise PermissionDenied("only its author can delete a tweet")
        if tweet.is_retweet:
            await self._undo_retweet(tweet, await self._author_id(tweet.retweet_of_id))
            return
        await self._mark_deleted(tweet, await self._record_delete(tweet))

    async def _record_delete(self, tweet: Tweet, *, from_timeline: bool = True) -> datetime:
        """A delete's batch: its index rows removed and its event written; returns its time."""
        now = self._clock()
        event = TweetDeleted(new_event_id(), now, tweet.id, tweet.author_id, tweet.reply_to_id)
        await self._store.remove(tweet, event, from_timeline=from_timeline)
        return now

    async def _mark_deleted(self, tweet: Tweet, when: datetime) -> None:
        """What follows a delete's batch (its rows removed, its event written): the tweet marked
        deleted and uncounted, once (the mark is a compare-and-set), and buried in the cache."""
        if await self._store.mark_deleted(tweet.id, when):
            await asyncio.gather(
                self._store.add_tweet_count(tweet.author_id, -1),
                *(
                    [self._store.add_counts(tweet.reply_to_id, replies=-1)]
                    if tweet.reply_to_id
                    else []
                ),
            )
        await self._user_timelines.wrote(tweet.author_id)
        await self._cache.bury([tweet.id])
        if tweet.reply_to_id:
            await self._cache.forget([tweet.reply_to_id])

    async def purge(self, tweet_id: int, deleted_at: datetime) -> None:
        """Finishes a deleted tweet: marks it deleted if its delete stopped after its batch
        (the event is the proof that the delete was acknowledged or is being: its batch
        committed) and undoes its retweets."""
        tweet = (await self._store.tweets([tweet_id])).get(tweet_id)
        if tweet is not None:
            await self._finish_delete(tweet, deleted_at)

    async def _finish_delete(self, tweet: Tweet, deleted_at: datetime) -> None:
        """What follows a delete's batch, and its retweets undone."""
        await self._mark_deleted(tweet, deleted_at)
        while retweets := await self._store.retweets_of(tweet.id, RETWEETS_UNDONE_AT_ONCE):
            await asyncio.gather(*(self._undo_retweet(rt, tweet.author_id) for rt in retweets))

    # Likes.

    async def like(self, user_id: int, tweet_id: int) -> TweetView:
        """The liked tweet with its counts as stored once this like is counted (the event
        carries the count read with the tweet, plus this like: a snapshot either way)."""
        target = await self._original(tweet_id)
        claim = await self._store.claim("like", target.id, user_id, new_event_id())
        listed = Listed(claim.ref, target.id, user_id)
        if not claim.new and await self._store.like_recorded(listed):
            return await self._recounted(target)
        likes = target.counts.likes + 1
        event = TweetLiked(claim.ref, self._clock(), target.id, target.author.id, user_id, likes)
        await self._store.record_like(listed, event)
        if claim.new:
            await self._store.add_counts(target.id, likes=1)
        return await self._counted_again(target)

    async def unlike(self, user_id: int, tweet_id: int) -> TweetView:
        """The unliked tweet, counted as ``like`` counts it."""
        target = await self._original(tweet_id)
        ref = await self._store.claim_of("like", target.id, user_id)
        if ref is None:
            return await self._recounted(target)
        likes = max(target.counts.likes - 1, 0)
        event = TweetUnliked(
            new_event_id(), self._clock(), target.id, target.author.id, user_id, likes
        )
        await self._store.erase_like(Listed(ref, target.id, user_id), event)
        if await self._store.release("like", target.id, user_id, ref):
            await self._store.add_counts(target.id, likes=-1)
        return await self._counted_again(target)

    async def _counted_again(self, view: TweetView) -> TweetView:
        """``view`` read again from the store once a change of its counts is stored, and cached
        so: forgetting the cached copy voids every older lease (no read can cache the old
        counts), and the forget's own lease fills it unless another change comes first. The
        next read of the tweet, or the next like of a tweet being liked (and search's
        re-indexing of it), finds it cached instead of reading the store again."""
        loaded = await self._load([view.id], await self._cache.forget([view.id]))
        return loaded.get(view.id, view)

    async def likers(self, tweet_id: int, size: int, token: str) -> Page[Author]:
        target = await self._original(tweet_id, "tweet_id")
        before = decode_str(token, "likers", target.id)
        rows, more = _peeked(await self._store.likers(target.id, before, size + 1), size)
        authors = await self._authors([row.user_id for row in rows])
        users = [authors.get(row.user_id, Author(row.user_id)) for row in rows]
        return Page(users, encode_token("likers", target.id, rows[-1].like_id) if more else "")

    async def retweeters(self, tweet_id: int, size: int, token: str) -> Page[Author]:
        """Who retweeted a tweet, in the order they did."""
        target = await self._original(tweet_id, "tweet_id")
        after = decode_int(token, "retweeters", target.id)
        rows, more = _peeked(await self._store.retweets_of(target.id, size + 1, after), size)
        authors = await self._authors([row.author_id for row in rows])
        users = [authors.get(row.author_id, Author(row.author_id)) for row in rows]
        return Page(users, encode_token("retweeters", target.id, rows[-1].id) if more else "")

    async def liked_tweets(
        self, username: str, caller_id: int | None, size: int, token: str
    ) -> Page[bytes]:
        user_id = await self._user_id(username, caller_id)

        async def fetch(before: str | None, limit: int) -> tuple[list[int], str | None]:
            rows, more = _peeked(await self._store.liked(user_id, before, limit + 1), limit)
            return [row.tweet_id for row in rows], rows[-1].like_id if more else None

        return await self._page("liked", user_id, decode_str(token, "liked", user_id), size, fetch)

    # Retweets.

    async def retweet(self, user_id: int, tweet_id: int) -> TweetView:
        original = await self._recounted(await self._original(tweet_id))
        reserved = str(await self._ids.issue())
        claim = await self._store.claim("retweet", original.id, user_id, reserved)
        retweet = Tweet(id=int(claim.ref), author_id=user_id, retweet_of_id=original.id)
        if claim.new or not await self._store.tweets([retweet.id]):
            event = TweetRetweeted(
                new_event_id(), self._clock(), retweet.id, original.id, original.author.id,
                user_id, original.counts.retweets + 1,
            )  # fmt: skip
            await self._store.create(retweet, event)
            if claim.new:
                await asyncio.gather(
                    self._store.add_counts(original.id, retweets=1),
                    self._store.add_tweet_count(user_id, 1),
                )
            await self._user_timelines.wrote(user_id, added=retweet.id)
            await self._cache.forget([original.id])
        view = TweetView(retweet, await self._author(user_id))
        await self._cache.put(_cacheable([view]))
        return replace(view, retweet_of=await self._recounted(original))

    async def unretweet(self, user_id: int, tweet_id: int) -> TweetView:
        original = await self._original(tweet_id)
        ref = await self._store.claim_of("retweet", original.id, user_id)
        if ref is not None:
            retweet = Tweet(id=int(ref), author_id=user_id, retweet_of_id=original.id)
            await self._undo_retweet(retweet, original.author.id)
        return await self._recounted(original)

    async def _undo_retweet(
        self, retweet: Tweet, original_author_id: int, *, from_timeline: bool = True
    ) -> None:
        original_id = retweet.retweet_of_id
        count = (await self._store.counts([original_id])).get(original_id, Counts()).retweets
        now = self._clock()
        event = TweetUnretweeted(
            new_event_id(), now, retweet.id, original_id, original_author_id, retweet.author_id,
            max(count - 1, 0),
        )  # fmt: skip
        await self._store.remove(retweet, event, from_timeline=from_timeline)
        await self._retweet_undone(retweet, now)

    async def _retweet_undone(self, retweet: Tweet, when: datetime) -> None:
        """What follows an unretweet's batch: the retweet marked deleted, its claim released
        and, by the call that released it counted, uncounted; the caches told."""
        original_id = retweet.retweet_of_id
        await self._store.mark_deleted(retweet.id, when)
        if await self._store.release("retweet", original_id, retweet.author_id, str(retweet.id)):
            await asyncio.gather(
                self._store.add_counts(original_id, retweets=-1),
                self._store.add_tweet_count(retweet.author_id, -1),
            )
        await self._user_timelines.wrote(retweet.author_id)
        await self._cache.bury([retweet.id])
        await self._cache.forget([original_id])

    async def _author_id(self, tweet_id: int) -> int:
        """The author of a stored tweet, deleted or not; 0 for an unknown (or erased) one."""
        tweet = (await self._store.tweets([tweet_id])).get(tweet_id)
        return tweet.author_id if tweet else 0

    # Erasing a deleted account.

    async def erase_account(self, user_id: int, deleted_at: datetime) -> None:
        """Erases what this service holds of a deleted account, as the module docstring says:
        its likes, then its tweets and retweets, then its own rows and its kept timeline ids."""
        await self._erase_likes(user_id)
        await self._erase_tweets(user_id, deleted_at)
        await self._store.erase_user(user_id)
        await self._user_timelines.forget(user_id)

    async def _erase_likes(self, user_id: int) -> None:
        before = None
        while likes := await self._store.liked(user_id, before, ERASED_AT_ONCE):
            await _each(likes, self._withdraw_like)
            if len(likes) < ERASED_AT_ONCE:
                return
            before = likes[-1].like_id

    async def _withdraw_like(self, like: Listed) -> None:
        """Undoes a like as ``unlike`` does, whatever became of the liked tweet since (a deleted
        one can no longer be unliked): its claim released first, and uncounted by the call that
        released it counted; then the like's rows and its event, the row the walk finds last."""
        tweet_id, user_id = like.tweet_id, like.user_id
        ref = await self._store.claim_of("like", tweet_id, user_id)
        if ref is not None and await self._store.release("like", tweet_id, user_id, ref):
            await self._store.add_counts(tweet_id, likes=-1)
        author_id, counts = await asyncio.gather(
            self._author_id(tweet_id), self._store.counts([tweet_id])
        )
        likes = counts.get(tweet_id, Counts()).likes
        event = TweetUnliked(new_event_id(), self._clock(), tweet_id, author_id, user_id, likes)
        await self._store.erase_like(like, event)
        await self._cache.forget([tweet_id])

    async def _erase_tweets(self, user_id: int, deleted_at: datetime) -> None:
        """Walks the account's timeline, newest first, a page at a time: each tweet and retweet
        is withdrawn, then erased with its timeline row, so the rows left are what is left to
        do."""
        before = None
        while True:
            page = await read_slice(self._store, user_id, limit=ERASED_AT_ONCE, before=before)
            stored = await self._store.tweets(page.ids)
            # Retweets first: an original undoes its retweets, the account's own among them.
            await _each([t for t in stored.values() if t.is_retweet], self._withdraw_retweet)
            originals = [t for t in stored.values() if not t.is_retweet]
            await _each(originals, partial(self._withdraw_original, deleted_at=deleted_at))
            # Erased once the whole page is withdrawn, so a reply to a tweet of the same page
            # has counted itself out of it before that tweet's counters go. A row whose tweet
            # is gone already was being erased (a batch is atomic, not isolated).
            await _each([stored.get(i, Tweet(i, user_id)) for i in page.ids], self._store.erase)
            if page.next_before is None:
                return
            before = page.next_before

    async def _withdraw_original(self, tweet: Tweet, deleted_at: datetime) -> None:
        """Deletes a tweet as ``delete`` and ``purge`` do, but for its timeline row; the batch
        is skipped if the tweet is marked deleted (the mark comes after it)."""
        if not tweet.deleted:
            await self._record_delete(tweet, from_timeline=False)
        await self._finish_delete(tweet, deleted_at)

    async def _withdraw_retweet(self, retweet: Tweet) -> None:
        """Undoes a retweet as ``unretweet`` does, but for its timeline row; the batch is
        skipped if the retweet is marked deleted."""
        if retweet.deleted:
            await self._retweet_undone(retweet, self._clock())
        else:
            original_author_id = await self._author_id(retweet.retweet_of_id)
            await self._undo_retweet(retweet, original_author_id, from_timeline=False)

    # Replies and timelines.

    async def replies(self, tweet_id: int, size: int, token: str) -> Page[bytes]:
        parent = await self._original(tweet_id, "tweet_id")

        async def fetch(after: int | None, limit: int) -> tuple[list[int], int | None]:
            ids, more = _peeked(await self._store.reply_ids(parent.id, after, limit + 1), limit)
            return ids, ids[-1] if more else None

        cursor = decode_int(token, "replies", parent.id)
        return await self._page("replies", parent.id, cursor, size, fetch)

    async def user_tweets(
        self, username: str, caller_id: int | None, size: int, token: str
    ) -> Page[bytes]:
        user_id = await self._user_id(username, caller_id)

        async def fetch(before: int | None, limit: int) -> tuple[list[int], int | None]:
            found = await self._user_timeline(user_id, limit, before)
            return found.ids, found.next_before

        cursor = decode_int(token, USER_TWEETS, user_id)
        return await self._page(USER_TWEETS, user_id, cursor, size, fetch)

    async def _page(
        self,
        kind: str,
        scope: int,
        cursor: C | None,
        size: int,
        fetch: Callable[[C | None, int], Awaitable[tuple[list[int], C | None]]],
    ) -> Page[bytes]:
        """A page of readable tweets from a list of ids, reading on past deleted ones."""
        shown: list[bytes] = []
        for _ in range(MAX_FILL_ROUNDS):
            ids, cursor = await fetch(cursor, size - len(shown))
            found = await self.ready(ids)
            shown += [found[tweet_id] for tweet_id in ids if tweet_id in found]
            if cursor is None or len(shown) >= size:
                break
        return Page(shown, "" if cursor is None else encode_token(kind, scope, cursor))

    async def _user_timeline(self, user_id: int, limit: int, before: int | None) -> Slice:
        kept = await self._kept([user_id])
        return await self._below(user_id, kept[user_id], limit, before)

    async def _kept(self, user_ids: Sequence[int]) -> dict[int, KeptIds]:
        """The newest ids of each user's timeline: those kept in Redis (one read for all, used
        while no write made them out of date), the others read from the store (at most
        ``RECENT_CONCURRENCY`` at a time) and kept, but for a deleted account's (asked for
        after its erasure, by the other services following its events, they would be kept
        under its id)."""
        kept, writes = await self._user_timelines.recent(user_ids)
        gate = asyncio.Semaphore(RECENT_CONCURRENCY)

        async def load(user_id: int) -> None:
            async with gate:
                newest = await read_slice(self._store, user_id, limit=KEPT_IDS)
            kept[user_id] = KeptIds(newest.ids, complete=newest.next_before is None)
            if user_id not in self._deleted:
                await self._user_timelines.keep(user_id, writes[user_id], kept[user_id])

        await asyncio.gather(*(load(user_id) for user_id in user_ids if user_id not in kept))
        return kept

    async def _below(self, user_id: int, kept: KeptIds, limit: int, before: int | None) -> Slice:
        """Up to ``limit`` ids of the user's timeline below ``before``: from the kept ids where
        they reach, from the store's buckets below them."""
        below = ids_below(kept.ids, before)
        if len(below) > limit or (len(below) == limit and not kept.complete):
            return Slice(list(below[:limit]), below[limit - 1])
        if kept.complete:
            return Slice(list(below), None)
        return await read_slice(self._store, user_id, limit=limit, before=before)

    async def _user_id(self, username: str, caller_id: int | None) -> int:
        if username == "me":
            if caller_id is None:
                raise Unauthenticated("'me' needs an access token: Authorization: Bearer <token>")
            return caller_id
        user_id = await self._users.id_of(username)
        if user_id is None:
            raise NotFound(f"user {username!r} not found")
        return user_id

    # Internal reads.

    async def recent_ids(
        self, author_ids: Sequence[int], since: datetime | None, max_results: int
    ) -> list[int]:
        rules.check_batch(author_ids, rules.MAX_RECENT_AUTHORS, "author_ids")
        since_id = 0
        if since is not None:
            since_id = compose(max(int(since.timestamp() * 1000), CHIRP_EPOCH_MS), 0, 0)
        authors = list(dict.fromkeys(author_ids))
        if since is None:  # from the kept ids (those read from the store are kept)
            kept = await self._kept(authors)
            per_author = [(await self._below(a, kept[a], max_results, None)).ids for a in authors]
        else:
            gate = asyncio.Semaphore(RECENT_CONCURRENCY)

            async def newest(author_id: int) -> list[int]:
                async with gate:
                    found = await read_slice(
                        self._store, author_id, limit=max_results, since=since_id
                    )
                    return found.ids

            per_author = await asyncio.gather(*(newest(a) for a in authors))
        return heapq.nlargest(max_results, (i for ids in per_author for i in ids))

    async def stream(self, batch_size: int) -> AsyncIterator[list[TweetView]]:
        after = None
        while True:
            tweets, after = await self._store.scan(after, batch_size)
            shown = [t for t in tweets if not t.deleted and not t.is_retweet]
            if shown:
                yield await self._hydrate(shown)
            if after is None:
                return

    async def engagements(
        self, user_id: int, tweet_ids: Sequence[int]
    ) -> tuple[list[int], list[int]]:
        """Which of ``tweet_ids`` the user liked, and which they retweeted, in request order."""
        rules.check_batch(tweet_ids, rules.MAX_BATCH_TWEETS, "tweet_ids")
        claimed = await self._store.claimed(user_id, list(dict.fromkeys(tweet_ids)))
        liked = [i for i in tweet_ids if ("like", i) in claimed]
        retweeted = [i for i in tweet_ids if ("retweet", i) in claimed]
        return liked, retweeted

    async def tweet_counts(self, user_ids: Sequence[int]) -> list[tuple[int, int]]:
        rules.check_batch(user_ids, rules.MAX_BATCH_USERS, "user_ids")
        counts = await self._store.user_tweet_counts(list(dict.fromkeys(user_ids)))
        return [(user_id, counts.get(user_id, 0)) for user_id in user_ids]


T = TypeVar("T")


async def _each(items: Sequence[T], work: Callable[[T], Awaitable[None]]) -> None:
    """``work`` on every item at once, then the first failure raised: the others are left to
    finish rather than cut off between two of their steps (where a crash would leave a count
    one off: see the module docstring)."""
    outcomes = await asyncio.gather(*(work(item) for item in items), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _peeked(rows: list[T], limit: int) -> tuple[list[T], bool]:
    """Rows read with one extra to learn whether more follow: (the first ``limit``, more?)."""
    return rows[:limit], len(rows) > limit


def _cacheable(views: Sequence[TweetView]) -> list[TweetView]:
    """Views worth caching: those whose author and photos were hydrated (an author or a photo
    shown by id alone, while its service is unavailable, is not kept for everyone to see)."""
    return [
        view for view in views if view.author.username and all(photo.url for photo in view.media)
    ]
