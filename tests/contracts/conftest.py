"""The local stack's pieces the real adapters of the contract suites use. A suite asks for them
(``request.getfixturevalue``) only for a real adapter's parameter, so the unit tier, which runs
the fakes' parameters alone, sets none of them up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from neo4j import AsyncDriver

from services.platform.channels import service_channel
from services.platform.resp import RespClient
from services.platform.settings import Settings
from tests.contracts.world import Account, Channels, LiveGraph, LiveTweets, register
from tests.integration.graph.support import neo4j_driver


@pytest.fixture
async def neo4j() -> AsyncIterator[AsyncDriver]:
    driver = neo4j_driver()
    yield driver
    await driver.close()


#: How long a call of the suites may take: as long as the gateway gives one (its routes' 15 s),
#: not a service's 5 s to another: the stack shares the machine's two cores with the tests, and
#: a registration (argon2, a lightweight transaction) in the stack's first minute can take more.
CALL_SECONDS = 15.0


@pytest.fixture
async def channels() -> AsyncIterator[Channels]:
    settings = Settings(service="tweets")  # any service's settings: they name every address
    async with (
        service_channel(settings.users_addr, timeout=CALL_SECONDS) as users,
        service_channel(settings.graph_addr, timeout=CALL_SECONDS) as graph,
        service_channel(settings.tweets_addr, timeout=CALL_SECONDS) as tweets,
    ):
        yield Channels(users, graph, tweets)


@pytest.fixture
def live_graph(neo4j: AsyncDriver, resp: RespClient) -> LiveGraph:
    return LiveGraph(neo4j, resp)


@pytest.fixture
def live_tweets(channels: Channels) -> LiveTweets:
    return LiveTweets(channels.tweets, channels.users)


@pytest.fixture
async def account(channels: Channels) -> Account:
    """A new account with the running users service."""
    return await register(channels.users)
