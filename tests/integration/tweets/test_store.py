"""The Cassandra tweets store against the real Cassandra (migrations 0001 and 0004)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cassandra.cluster import Session

from services.platform.ids import compose, wall_clock_ms
from services.platform.outbox import Outbox, new_event_id
from services.tweets.adapters.store import CassandraTweetStore
from services.tweets.model import (
    Author,
    Tweet,
    TweetCreated,
    TweetDeleted,
    TweetLiked,
    TweetUnliked,
    TweetView,
    Version,
)
from services.tweets.ports import Claim, Listed
from services.tweets.service import now_ms
from services.tweets.text import Entities, Hashtag, Link, Mention
from services.tweets.timeline import MAX_BUCKETS_PER_READ, bucket_of, read_slice
from tests.integration.tweets.tokens import random_user_id

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def store(session: Session) -> CassandraTweetStore:
    return CassandraTweetStore(session, Outbox(session))


def _id(days_ago: float = 0) -> int:
    """A fresh tweet id from ``days_ago`` (worker 1023 and a random sequence: no live clash)."""
    return compose(wall_clock_ms() - int(days_ago * DAY_MS), 1023, random.randrange(4096))  # noqa: S311


async def _post(store: CassandraTweetStore, tweet: Tweet) -> Tweet:
    await store.create(tweet, TweetCreated(new_event_id(), now_ms(), TweetView(tweet, Author(1))))
    return tweet


async def test_a_tweet_round_trips_with_its_entities(store: CassandraTweetStore) -> None:
    entities = Entities(
        (Hashtag(0, 4, "日本語"),),
        (Mention(5, 9, "Ada", 7),),
        (Link(10, 30, "https://a.example/é"),),
    )
    parent = _id(1)
    tweet = await _post(
        store, Tweet(_id(), random_user_id(), "#日本語 @ada https://a.example/é", entities, parent)
    )
    assert (await store.tweets([tweet.id, 1])) == {tweet.id: tweet}
    assert (await store.counts([tweet.id])) == {}
    assert await store.reply_ids(parent, None, 10) == [tweet.id]
    assert await store.reply_ids(parent, tweet.id, 10) == []


async def test_timeline_reads_walk_buckets_and_skip_the_empty_ones(
    store: CassandraTweetStore,
) -> None:
    user = random_user_id()
    days = [200, 120, 119, 60, 1, 0]
    posted = [await _post(store, Tweet(_id(d), user, f"{d} days ago")) for d in days]
    emptied = await _post(store, Tweet(_id(90), user, "deleted"))
    await store.remove(emptied, TweetDeleted(new_event_id(), now_ms(), emptied.id, user, 0))
    assert bucket_of(emptied.id) in await store.buckets(user, None, 100)

    seen, before = [], None
    while True:
        page = await read_slice(store, user, limit=2, before=before)
        seen += page.ids
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == [t.id for t in posted[::-1]]

    recent = await read_slice(store, user, limit=10, since=_id(30))
    assert recent.ids == [posted[-1].id, posted[-2].id]
    assert len(await store.buckets(user, bucket_of(posted[0].id), 100)) == 1


async def test_a_read_walks_at_most_a_bounded_number_of_buckets(
    store: CassandraTweetStore,
) -> None:
    user = random_user_id()
    oldest = await _post(store, Tweet(_id(300), user, "old"))
    for index in range(MAX_BUCKETS_PER_READ + 1):  # newer buckets, all emptied by deletes
        gone = await _post(store, Tweet(_id(index * 31), user, "gone"))
        await store.remove(gone, TweetDeleted(new_event_id(), now_ms(), gone.id, user, 0))
    first = await read_slice(store, user, limit=5)
    assert first.ids == []
    assert first.next_before is not None
    rest = await read_slice(store, user, limit=5, before=first.next_before)
    assert rest.ids == [oldest.id]
    assert rest.next_before is None


async def test_an_idempotency_key_is_held_by_the_first_claim(store: CassandraTweetStore) -> None:
    author, key = random_user_id(), uuid.uuid4().hex
    assert await store.idempotent_tweet(author, key) is None
    assert await store.claim_idempotency_key(author, key, 11) == 11
    assert await store.claim_idempotency_key(author, key, 12) == 11
    assert await store.idempotent_tweet(author, key) == 11


async def test_edits_swap_text_only_over_the_state_they_read(store: CassandraTweetStore) -> None:
    tweet = await _post(store, Tweet(_id(), random_user_id(), "v1"))
    first_edit = Tweet(tweet.id, tweet.author_id, "v2", edit_time=now_ms())
    await store.save_version(Version(tweet.id, 1, "v1", Entities(), tweet.create_time))
    assert await store.replace_text(tweet, first_edit)
    assert not await store.replace_text(tweet, Tweet(tweet.id, tweet.author_id, "lost race"))
    assert (await store.tweets([tweet.id]))[tweet.id].text == "v2"
    later = now_ms() + timedelta(seconds=1)
    await store.save_version(Version(tweet.id, 2, "v2", Entities(), first_edit.version_start))
    assert await store.replace_text(
        first_edit, Tweet(tweet.id, tweet.author_id, "v3", edit_time=later)
    )
    versions = await store.versions(tweet.id)
    assert [(v.number, v.text) for v in versions] == [(2, "v2"), (1, "v1")]
    assert versions[1].create_time == tweet.create_time
    assert await store.mark_deleted(tweet.id, now_ms())
    assert not await store.mark_deleted(tweet.id, now_ms())
    assert (await store.tweets([tweet.id]))[tweet.id].deleted
    stale = Tweet(tweet.id, tweet.author_id, "v3", edit_time=later)
    assert not await store.replace_text(stale, Tweet(tweet.id, tweet.author_id, "after delete"))


async def test_a_claim_is_taken_once_and_released_once(store: CassandraTweetStore) -> None:
    tweet_id, user = _id(), random_user_id()
    assert await store.claim("like", tweet_id, user, "first") == Claim("first", new=True)
    assert await store.claim("like", tweet_id, user, "second") == Claim("first", new=False)
    # A retry of the request that took it (its first try timed out, say) finds it its own.
    assert await store.claim("like", tweet_id, user, "first") == Claim("first", new=True)
    assert await store.claim_of("retweet", tweet_id, user) is None  # kinds are apart
    assert await store.claim_of("like", tweet_id, user) == "first"
    assert not await store.release("like", tweet_id, user, "other-ref")
    assert await store.release("like", tweet_id, user, "first")
    assert await store.claim_of("like", tweet_id, user) is None
    assert not await store.release("like", tweet_id, user, "first")
    assert await store.claim("like", tweet_id, user, "third") == Claim("third", new=True)


async def test_counters(store: CassandraTweetStore) -> None:
    tweet_id, user = _id(), random_user_id()
    await store.add_counts(tweet_id, likes=2, retweets=1, replies=3)
    await store.add_counts(tweet_id, likes=-1)
    counts = (await store.counts([tweet_id]))[tweet_id]
    assert (counts.likes, counts.retweets, counts.replies) == (1, 1, 3)
    await store.add_tweet_count(user, 2)
    assert await store.user_tweet_counts([user, random_user_id()]) == {user: 2}


async def test_likes_list_newest_first_and_an_unlike_shadows_a_late_like(
    store: CassandraTweetStore,
) -> None:
    tweet_id, users = _id(), [random_user_id() for _ in range(3)]
    listed = [Listed(str(uuid.uuid1()), tweet_id, user) for user in users]
    assert not await store.like_recorded(listed[0])
    for row in listed:
        await store.record_like(
            row, TweetLiked(new_event_id(), now_ms(), tweet_id, 1, row.user_id, 1)
        )
    assert await store.like_recorded(listed[0])
    likers = await store.likers(tweet_id, None, 2)
    assert [r.user_id for r in likers] == users[:0:-1]
    rest = await store.likers(tweet_id, likers[-1].like_id, 2)
    assert [r.user_id for r in rest] == users[:1]
    assert [r.tweet_id for r in await store.liked(users[0], None, 5)] == [tweet_id]

    unliked = TweetUnliked(new_event_id(), now_ms(), tweet_id, 1, users[0], 0)
    await store.erase_like(listed[0], unliked)
    # The like's own batch arriving after the unlike (a race) stays shadowed.
    await store.record_like(
        listed[0], TweetLiked(new_event_id(), now_ms(), tweet_id, 1, users[0], 1)
    )
    assert [r.user_id for r in await store.likers(tweet_id, None, 5)] == users[:0:-1]
    assert await store.liked(users[0], None, 5) == []
    assert not await store.like_recorded(listed[0])


async def test_retweets_are_indexed_under_their_original(store: CassandraTweetStore) -> None:
    original, fan = _id(), random_user_id()
    retweet = await _post(store, Tweet(_id(), fan, retweet_of_id=original))
    assert await store.retweets_of(original, 10) == [Tweet(retweet.id, fan, retweet_of_id=original)]
    await store.remove(retweet, TweetDeleted(new_event_id(), now_ms(), retweet.id, fan, 0))
    assert await store.retweets_of(original, 10) == []


async def test_a_removal_can_leave_the_timeline_row_for_the_erasure_to_remove(
    store: CassandraTweetStore,
) -> None:
    parent, author = _id(), random_user_id()
    reply = await _post(store, Tweet(_id(), author, "re", reply_to_id=parent))
    event = TweetDeleted(new_event_id(), now_ms(), reply.id, author, parent)
    await store.remove(reply, event, from_timeline=False)
    assert await store.reply_ids(parent, None, 10) == []
    assert (await read_slice(store, author, limit=10)).ids == [reply.id]
    await store.erase(reply)
    assert (await read_slice(store, author, limit=10)).ids == []


async def test_an_erased_tweet_leaves_no_row_keyed_by_it(
    store: CassandraTweetStore, session: Session
) -> None:
    author, fan = random_user_id(), random_user_id()
    tweet = await _post(store, Tweet(_id(), author, "v2", media_ids=(5,)))
    kept = await _post(store, Tweet(_id(), author, "kept"))
    retweet = await _post(store, Tweet(_id(), fan, retweet_of_id=tweet.id))
    reply = await _post(store, Tweet(_id(), fan, "re", reply_to_id=tweet.id))
    await store.save_version(Version(tweet.id, 1, "v1", Entities(), tweet.create_time))
    await store.add_counts(tweet.id, likes=1, retweets=1, replies=1)
    await store.record_like(
        Listed(str(uuid.uuid1()), tweet.id, fan),
        TweetLiked(new_event_id(), now_ms(), tweet.id, author, fan, 1),
    )
    for erased in (tweet, retweet):  # deleted first, as the erasure does
        await store.mark_deleted(erased.id, now_ms())
        await store.erase(erased)
    assert await store.tweets([tweet.id, retweet.id, kept.id, reply.id]) == {
        kept.id: kept,
        reply.id: reply,
    }
    assert (await read_slice(store, author, limit=10)).ids == [kept.id]
    assert (await read_slice(store, fan, limit=10)).ids == [reply.id]
    assert await store.versions(tweet.id) == []
    assert await store.counts([tweet.id]) == {}
    assert await store.likers(tweet.id, None, 10) == []
    assert await store.retweets_of(tweet.id, 10) == []
    assert await store.reply_ids(tweet.id, None, 10) == []
    # Nothing is left of their rows, not even a deletion mark.
    for erased in (tweet, retweet):
        assert list(session.execute("SELECT * FROM tweets WHERE id = %s", (erased.id,))) == []


async def test_an_erased_users_tweet_count_and_buckets_are_gone(
    store: CassandraTweetStore,
) -> None:
    user, other = random_user_id(), random_user_id()
    for poster in (user, other):
        await _post(store, Tweet(_id(40), poster, "older"))
        await store.add_tweet_count(poster, 1)
    await store.erase_user(user)
    assert await store.user_tweet_counts([user, other]) == {other: 1}
    assert await store.buckets(user, None, 10) == []
    assert len(await store.buckets(other, None, 10)) == 1


async def test_a_scan_visits_every_tweet(store: CassandraTweetStore) -> None:
    mine = {(await _post(store, Tweet(_id(), random_user_id(), "scan me"))).id for _ in range(3)}
    found: set[int] = set()
    after = None
    while True:
        tweets, after = await store.scan(after, 500)
        found |= {t.id for t in tweets}
        if after is None:
            break
    assert mine <= found


def test_timestamps_read_back_as_utc() -> None:
    moment = now_ms()
    assert moment.tzinfo is UTC
    assert moment.microsecond % 1000 == 0
    assert datetime.now(UTC) - moment < timedelta(seconds=1)
