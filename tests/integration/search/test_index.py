"""The Tantivy adapters on disk (a temporary folder): documents in, every query rule, user
ranking, restarts, concurrent searches and writes, and the generation swap of a rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from chirp.users.v1 import user_pb2

from services.platform.errors import Aborted
from services.search.adapters.index import TantivyTweetIndex, TantivyUserIndex, tweet_document
from services.search.query import TweetQuery, parse
from tests.integration.search.support import tweet

DAY_MS = 86_400_000
JAN_31 = 1_769_817_600_000  # 2026-01-31T00:00:00Z


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[TantivyTweetIndex]:
    opened = TantivyTweetIndex(tmp_path)
    yield opened
    await opened.store.close()


async def ids(index: TantivyTweetIndex, q: str) -> set[int]:
    return set(await index.latest(parse(q), None, 100))


async def test_a_query_of_nothing_is_every_tweet_newest_first(index: TantivyTweetIndex) -> None:
    """The public timeline (``ListPublicTweets``), paged by the last id shown."""
    tweets = [tweet(f"post {i}", created_ms=JAN_31 + i) for i in range(5)]
    await index.upsert(tweets)
    await index.store.commit()
    newest = sorted((t.id for t in tweets), reverse=True)
    everything = TweetQuery(())
    assert await index.latest(everything, None, 3) == newest[:3]
    assert await index.latest(everything, newest[2], 10) == newest[3:]


async def test_every_query_rule(index: TantivyTweetIndex) -> None:
    running = tweet("Running quickly through the Café", created_ms=JAN_31 + 5)
    phrase = tweet("hello big world, said Ada", author_id=8, username="Grace", created_ms=JAN_31)
    tagged = tweet(
        "#Python tips for @Ada see https://Example.com/Tips",
        hashtags=["Python"], mentions=["Ada"], urls=["https://Example.com/Tips"],
        created_ms=JAN_31 + DAY_MS,
    )  # fmt: skip
    spoiler = tweet("the world cup final spoiler", created_ms=JAN_31 - 1)
    await index.upsert([running, phrase, tagged, spoiler])
    await index.store.commit()

    assert await ids(index, "runs cafe") == {running.id}  # stemmed, lowercased, folded
    assert await ids(index, "RUN quick") == {running.id}
    assert await ids(index, "run missing") == set()  # every word must match
    assert await ids(index, '"hello big world"') == {phrase.id}
    assert await ids(index, '"hello world"') == set()  # a phrase is exact
    assert await ids(index, "world") == {phrase.id, spoiler.id}
    assert await ids(index, "world -spoiler") == {phrase.id}
    assert await ids(index, 'world -"cup final"') == {phrase.id}
    assert await ids(index, "#PYTHON") == {tagged.id}
    assert await ids(index, "python") == {tagged.id}  # the text has the word too
    assert await ids(index, "@ada") == {tagged.id}  # mentions, not the word "Ada"
    assert await ids(index, "ada") == {phrase.id, tagged.id}
    assert await ids(index, "from:grace") == {phrase.id}
    assert await ids(index, "world -from:grace") == {spoiler.id}
    assert await ids(index, "https://example.com/tips") == {tagged.id}
    assert await ids(index, "world since:2026-01-31") == {phrase.id}  # inclusive
    assert await ids(index, "world until:2026-01-31") == {spoiler.id}  # exclusive
    assert await ids(index, "#python since:2026-01-31 until:2026-02-01") == set()
    assert await ids(index, "#python since:2026-02-01 until:2026-02-02") == {tagged.id}


async def test_latest_pages_are_newest_first_and_continue_below_the_cursor(
    index: TantivyTweetIndex,
) -> None:
    tweets = [tweet(f"page word{i}", created_ms=JAN_31 + i) for i in range(5)]
    await index.upsert(tweets)
    await index.store.commit()
    newest = [t.id for t in reversed(tweets)]
    assert await index.latest(parse("page"), None, 2) == newest[:2]
    assert await index.latest(parse("page"), newest[1], 2) == newest[2:4]
    assert await index.latest(parse("page"), newest[4], 2) == []


async def test_edits_replace_deletes_remove_and_writes_are_seen_after_commit(
    index: TantivyTweetIndex,
) -> None:
    original = tweet("the old words")
    await index.upsert([original])
    assert await ids(index, "old") == set()  # not committed yet
    await index.store.commit()
    assert await ids(index, "old") == {original.id}
    edited = tweet("brand new words", tweet_id=original.id)
    await index.upsert([edited])
    await index.store.commit()
    assert await ids(index, "old") == set()
    assert await ids(index, "new") == {original.id}
    assert await ids(index, "words") == {original.id}  # one document, not two
    await index.upsert([], deletes=[original.id])
    await index.store.commit()
    assert await ids(index, "words") == set()


async def test_top_candidates_carry_engagement_and_time(index: TantivyTweetIndex) -> None:
    liked = tweet("coffee time", likes=9, created_ms=JAN_31)
    await index.upsert([liked, tweet("coffee again coffee", created_ms=JAN_31 + 1)])
    await index.store.commit()
    candidates = {c.tweet_id: c for c in await index.candidates(parse("coffee"))}
    assert candidates[liked.id].likes == 9
    assert candidates[liked.id].created_ms == JAN_31
    assert all(c.relevance > 0 for c in candidates.values())


async def test_the_index_survives_a_restart(tmp_path: Path) -> None:
    first = TantivyTweetIndex(tmp_path)
    kept = tweet("durable words")
    await first.upsert([kept])
    await first.store.commit()
    await first.store.close()
    reopened = TantivyTweetIndex(tmp_path)
    try:
        assert await ids(reopened, "durable") == {kept.id}
    finally:
        await reopened.store.close()


async def test_searches_run_while_the_writer_writes(index: TantivyTweetIndex) -> None:
    await index.upsert([tweet(f"steady {i}") for i in range(50)])
    await index.store.commit()

    async def write() -> None:
        for batch in range(20):
            await index.upsert([tweet(f"steady more {batch} {i}") for i in range(100)])
            await index.store.commit()

    async def read() -> list[int]:
        counts = []
        for _ in range(40):
            counts.append(len(await index.latest(parse("steady"), None, 100)))
            await asyncio.sleep(0)
        return counts

    _, counts = await asyncio.gather(write(), read())
    assert min(counts) >= 50  # every search saw at least the committed state
    assert len(await index.latest(parse("steady"), None, 100)) == 100


async def test_a_rebuild_swaps_a_new_generation_in_and_keeps_live_writes(
    tmp_path: Path, index: TantivyTweetIndex
) -> None:
    stale = tweet("stale text")
    live = tweet("live text")
    await index.upsert([stale, live])
    await index.store.commit()

    await index.store.begin_rebuild()
    with pytest.raises(Aborted):
        await index.store.begin_rebuild()
    edited = tweet("edited during rebuild", tweet_id=live.id)
    await index.upsert([edited])  # an event during the rebuild goes to both generations
    await index.store.commit()
    # The scan read the old version of `live` and a tweet the live index never had.
    missed = tweet("missed by the indexer")
    added = await index.store.add_rebuilt(
        [(t.id, tweet_document(t)) for t in (tweet("live text", tweet_id=live.id), missed)]
    )
    assert added == 1  # the scan's older copy of `live` is not written over the event's
    assert await ids(index, "missed") == set()  # searches still use the old generation
    await index.store.finish_rebuild()

    assert index.store.path == tmp_path / "tweets-2"
    assert not (tmp_path / "tweets-1").exists()
    assert (tmp_path / "tweets.current").read_text().strip() == "2"
    assert await ids(index, "missed") == {missed.id}
    assert await ids(index, "edited") == {live.id}
    assert await ids(index, "stale") == set()  # not in the store any more: gone
    await index.store.begin_rebuild()  # a finished rebuild allows the next one
    await index.store.abandon_rebuild()
    assert not (tmp_path / "tweets-3").exists()


async def test_users_by_prefix_exact_handle_first_then_followers(tmp_path: Path) -> None:
    users = TantivyUserIndex(tmp_path)
    try:
        await users.upsert(
            [
                (user_pb2.User(id=1, username="ada", display_name="Countess"), 3),
                (user_pb2.User(id=2, username="adam_smith", display_name="Adam"), 50),
                (user_pb2.User(id=3, username="grace", display_name="Ada Hopper"), 10),
                (user_pb2.User(id=4, username="linus", display_name="Lovelace fan"), 99),
            ]
        )
        await users.store.commit()
        assert await users.search(["ada"], 10) == [1, 2, 3]  # exact, then 50, then 10
        assert await users.search(["Ad"], 10) == [2, 3, 1]
        assert await users.search(["smi"], 10) == [2]  # a part of the username
        assert await users.search(["ada", "hop"], 10) == [3]  # every word must match
        assert await users.search(["love"], 10) == [4]
        assert await users.search(["zzz"], 10) == []
        await users.upsert([(user_pb2.User(id=3, username="grace", display_name="G"), 10)])
        await users.store.commit()
        assert await users.search(["hop"], 10) == []  # the new display name replaced it
    finally:
        await users.store.close()
