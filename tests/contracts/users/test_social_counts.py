"""``SocialCounts``: the in-memory fake, the graph and tweets services over gRPC, and the Redis
copies kept of their answers keep the same promises."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from services.users.adapters.cache import RedisSocialCache
from services.users.adapters.clients import GrpcSocialCounts
from services.users.model import Counts, Relationship
from services.users.ports import SocialCounts
from tests.contracts.implementations import implementations, integration, unit
from tests.contracts.world import Channels, Follows, Posts
from tests.integration.tweets.tokens import random_user_id
from tests.unit.users.fakes import Social

STRANGERS = Relationship(caller_follows=False, follows_caller=False)


@dataclass(frozen=True)
class MemoryWorld:
    """Follows and posts as the fake counts them."""

    social: Social

    async def author(self) -> int:
        return random_user_id()

    async def follow(self, follower_id: int, followee_id: int) -> None:
        self.social.follows.add((follower_id, followee_id))

    async def post(self, author_id: int) -> int:
        self.social.tweets[author_id] = self.social.tweets.get(author_id, 0) + 1
        return 0


@dataclass(frozen=True)
class Profiles:
    social: SocialCounts
    follows: Follows
    posts: Posts


def _memory(_: pytest.FixtureRequest) -> Profiles:
    social = Social()
    return Profiles(social, MemoryWorld(social), MemoryWorld(social))


def _grpc(request: pytest.FixtureRequest) -> Profiles:
    channels: Channels = request.getfixturevalue("channels")
    counts = GrpcSocialCounts(channels.graph, channels.tweets)
    return Profiles(
        counts, request.getfixturevalue("live_graph"), request.getfixturevalue("live_tweets")
    )


def _redis(request: pytest.FixtureRequest) -> Profiles:
    """The users service's: Redis copies of what graph and tweets answered."""
    bare = _grpc(request)
    return replace(bare, social=RedisSocialCache(request.getfixturevalue("resp"), bare.social))


profiles = implementations(memory=unit(_memory), grpc=integration(_grpc), redis=integration(_redis))


async def test_counts_are_each_users_follows_and_tweets_at_once(profiles: Profiles) -> None:
    ada, cid, nobody = (random_user_id() for _ in range(3))
    bob = await profiles.posts.author()
    assert await profiles.social.counts([bob]) == {bob: Counts()}  # read before they change
    await profiles.follows.follow(ada, bob)
    await profiles.follows.follow(cid, bob)
    await profiles.follows.follow(bob, ada)
    await profiles.posts.post(bob)
    assert await profiles.social.counts([bob, ada, cid, nobody]) == {
        bob: Counts(follower_count=2, following_count=1, tweet_count=1),
        ada: Counts(follower_count=1, following_count=1),
        cid: Counts(following_count=1),
        nobody: Counts(),
    }


async def test_relationships_say_who_follows_the_caller_and_whom_they_follow(
    profiles: Profiles,
) -> None:
    ada, bob, cid, nobody = (random_user_id() for _ in range(4))
    assert await profiles.social.relationships(ada, [bob]) == {bob: STRANGERS}
    await profiles.follows.follow(ada, bob)
    await profiles.follows.follow(cid, ada)
    assert await profiles.social.relationships(ada, [bob, cid, nobody]) == {
        bob: Relationship(caller_follows=True, follows_caller=False),
        cid: Relationship(caller_follows=False, follows_caller=True),
        nobody: STRANGERS,
    }
