"""``SuggestionCache``: the in-memory fake and the Redis cache keep the same promises, each
with the counts of follow changes it is kept under and the ``KeptCopies`` that forget it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.graph.adapters.cache import RedisCountedChanges, RedisKeptCopies, RedisSuggestions
from services.graph.ports import FollowChanges, KeptCopies, SuggestionCache
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.graph.fakes import CountedChanges, KeptSuggestions


@dataclass(frozen=True)
class Kept:
    suggestions: SuggestionCache
    changes: FollowChanges
    copies: KeptCopies


def _memory(_: pytest.FixtureRequest) -> Kept:
    changes = CountedChanges()
    suggestions = KeptSuggestions(changes)
    return Kept(suggestions, changes, suggestions)


def _redis(request: pytest.FixtureRequest) -> Kept:
    redis = request.getfixturevalue("resp")
    return Kept(RedisSuggestions(redis), RedisCountedChanges(redis), RedisKeptCopies(redis))


kept = implementations(memory=unit(_memory), redis=integration(_redis))


@dataclass
class Ranking:
    ids: list[int]
    calls: int = 0

    async def __call__(self) -> list[int]:
        self.calls += 1
        return self.ids


async def test_a_ranking_is_kept_from_its_first_read(kept: Kept) -> None:
    for ids in ([3, 1, 2], []):
        user, ranking = random_user_id(), Ranking(ids)
        assert await kept.suggestions.ranked(user, ranking) == ids
        assert await kept.suggestions.ranked(user, Ranking([9])) == ids
        assert ranking.calls == 1


async def test_it_is_ranked_again_once_the_users_followings_change(kept: Kept) -> None:
    user, someone = random_user_id(), random_user_id()
    await kept.suggestions.ranked(user, Ranking([1]))
    await kept.changes.changed(someone, user)  # their followers changed, not their followings
    assert await kept.suggestions.ranked(user, Ranking([2])) == [1]
    await kept.changes.changed(user, someone)
    assert await kept.suggestions.ranked(user, Ranking([2])) == [2]


async def test_it_is_ranked_again_once_the_user_is_forgotten(kept: Kept) -> None:
    user, other = random_user_id(), random_user_id()
    await kept.suggestions.ranked(user, Ranking([1]))
    await kept.suggestions.ranked(other, Ranking([1]))
    await kept.copies.forget(user)
    assert await kept.suggestions.ranked(user, Ranking([2])) == [2]
    assert await kept.suggestions.ranked(other, Ranking([2])) == [1]
