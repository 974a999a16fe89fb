"""A deleted account leaves the search indexes (``users.deleted`` through the indexer's
``changes_of`` and ``SearchService.apply``), on real Tantivy indexes in a temporary folder; the
tweets, users and graph services are in memory, as they answer at each step."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from chirp.events.v1 import tweet_events_pb2, user_events_pb2
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2

from services.platform.caches.tweet_cache import ReadyTweet, ready_of
from services.platform.subjects import Event
from services.search.adapters.index import TantivyTweetIndex, TantivyUserIndex, tweet_document
from services.search.consumers.indexer import changes_of
from services.search.query import parse
from services.search.service import SearchService
from tests.integration.search.support import tweet

GONE, RITA = 7001, 7002
GONE_USER = user_pb2.User(id=GONE, username="Gone_Girl", display_name="Vanishing Act")


@dataclass
class MemoryTweets:
    stored: dict[int, tweet_pb2.Tweet] = field(default_factory=dict)

    async def batch_get(self, ids: Sequence[int]) -> list[tweet_pb2.Tweet]:
        return [self.stored[i] for i in ids if i in self.stored]

    async def ready(self, ids: Sequence[int]) -> list[ReadyTweet]:
        return [ready_of(t) for t in await self.batch_get(ids)]

    async def stream(self) -> AsyncIterator[list[tweet_pb2.Tweet]]:
        yield list(self.stored.values())


@dataclass
class MemoryUsers:
    stored: dict[int, user_pb2.User] = field(default_factory=dict)

    async def batch_get(self, ids: Sequence[int]) -> list[user_pb2.User]:
        return [self.stored[i] for i in ids if i in self.stored]

    async def stream(self) -> AsyncIterator[list[user_pb2.User]]:
        yield list(self.stored.values())


class NoFollowers:
    async def follower_counts(self, ids: Sequence[int]) -> dict[int, int]:
        return dict.fromkeys(ids, 0)


@dataclass
class Indexed:
    search: SearchService
    tweet_index: TantivyTweetIndex
    user_index: TantivyUserIndex
    tweets: MemoryTweets
    users: MemoryUsers

    async def apply(self, *events: Event) -> None:
        await self.search.apply(changes_of(events))
        await self.search.commit()

    async def found(self, q: str) -> set[int]:
        return set(await self.tweet_index.latest(parse(q), None, 100))

    async def users_found(self, word: str) -> list[int]:
        return await self.user_index.search([word], 10)


def _mentioning_gone(text: str, author_id: int, username: str) -> tweet_pb2.Tweet:
    written = tweet(text, author_id=author_id, username=username, mentions=["Gone_Girl"])
    written.entities.mentions[0].user_id = GONE
    return written


OWN = tweet("secretword one #gonetag", author_id=GONE, username="Gone_Girl", hashtags=["gonetag"])
OWN_MENTIONING = _mentioning_gone("secretword two, me @Gone_Girl", GONE, "Gone_Girl")
MENTION = _mentioning_gone("hello @Gone_Girl from rita", RITA, "rita")
PLAIN = tweet("plain rita words", author_id=RITA, username="rita")


@pytest.fixture
async def indexed(tmp_path: Path) -> AsyncIterator[Indexed]:
    tweet_index, user_index = TantivyTweetIndex(tmp_path), TantivyUserIndex(tmp_path)
    tweets = MemoryTweets({t.id: t for t in (OWN, OWN_MENTIONING, MENTION, PLAIN)})
    users = MemoryUsers({GONE: GONE_USER, RITA: user_pb2.User(id=RITA, username="rita")})
    search = SearchService(tweet_index, user_index, tweets, users, NoFollowers())
    indexed = Indexed(search, tweet_index, user_index, tweets, users)
    await indexed.apply(
        *(tweet_events_pb2.TweetCreatedEvent(tweet=t) for t in tweets.stored.values()),
        *(user_events_pb2.UserCreatedEvent(user=u) for u in users.stored.values()),
    )
    yield indexed
    await tweet_index.close()
    await user_index.close()


async def _nothing_of_the_account_is_found(indexed: Indexed) -> None:
    for q in ("secretword", "gonetag", "#gonetag", "from:gone_girl", "@gone_girl", "me"):
        assert await indexed.found(q) == set(), q
    for word in ("gone", "gone_girl", "vanishing", "act"):
        assert await indexed.users_found(word) == [], word
    # Others' tweets stay, the one that mentioned the account found by its words.
    assert await indexed.found("rita") == {MENTION.id, PLAIN.id}
    assert await indexed.found("hello") == {MENTION.id}
    assert await indexed.users_found("rita") == [RITA]


async def test_a_deleted_account_is_found_nowhere_and_others_stay(indexed: Indexed) -> None:
    assert await indexed.found("secretword") == {OWN.id, OWN_MENTIONING.id}
    assert await indexed.found("@gone_girl") == {OWN_MENTIONING.id, MENTION.id}
    assert await indexed.users_found("vanishing") == [GONE]
    del indexed.users.stored[GONE]  # the users service deleted it; its tweets are not erased yet
    deleted = user_events_pb2.UserDeletedEvent(user_id=GONE, username="Gone_Girl")
    await indexed.apply(deleted)
    await _nothing_of_the_account_is_found(indexed)
    # The tweets service's copy keeps its mention (indexed without it, not changed).
    assert [m.username for m in indexed.tweets.stored[MENTION.id].entities.mentions] == [
        "Gone_Girl"
    ]
    await indexed.apply(deleted)  # a redelivery, or a second event: nothing changes
    await _nothing_of_the_account_is_found(indexed)


async def test_events_after_the_deletion_do_not_bring_the_account_back(indexed: Indexed) -> None:
    del indexed.users.stored[GONE]
    await indexed.apply(user_events_pb2.UserDeletedEvent(user_id=GONE, username="Gone_Girl"))
    # Then the tweets service erases its tweets, each with ``tweets.deleted``; a replay of its
    # account's and tweets' events comes after (each a notice: read again, found gone).
    for own in (OWN, OWN_MENTIONING):
        del indexed.tweets.stored[own.id]
    await indexed.apply(
        *(tweet_events_pb2.TweetDeletedEvent(tweet_id=t.id) for t in (OWN, OWN_MENTIONING)),
        user_events_pb2.UserCreatedEvent(user=GONE_USER),
        user_events_pb2.UserUpdatedEvent(user=GONE_USER),
        tweet_events_pb2.TweetCreatedEvent(tweet=OWN),
    )
    await _nothing_of_the_account_is_found(indexed)


async def test_a_tweet_of_the_account_in_the_same_batch_goes_too(indexed: Indexed) -> None:
    """Its last tweet, posted as it was deleted, read and added before the author's delete."""
    last = tweet("secretword last", author_id=GONE, username="Gone_Girl")
    indexed.tweets.stored[last.id] = last
    del indexed.users.stored[GONE]
    await indexed.apply(
        tweet_events_pb2.TweetCreatedEvent(tweet=last),
        user_events_pb2.UserDeletedEvent(user_id=GONE, username="Gone_Girl"),
    )
    await _nothing_of_the_account_is_found(indexed)


async def test_a_rebuild_does_not_take_back_a_deleted_authors_tweets(indexed: Indexed) -> None:
    store = indexed.tweet_index.store
    await store.begin_rebuild()
    del indexed.users.stored[GONE]
    await indexed.apply(user_events_pb2.UserDeletedEvent(user_id=GONE, username="Gone_Girl"))
    # The scan read the account's tweets before the tweets service erased them.
    added = await store.add_rebuilt([(t.id, tweet_document(t)) for t in (OWN, PLAIN)])
    assert added == 1
    await store.finish_rebuild()
    assert await indexed.found("secretword") == set()
    assert await indexed.found("plain") == {PLAIN.id}
