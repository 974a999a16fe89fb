"""The local stack's pieces the real adapters of the contract suites use. A suite asks for them
(``request.getfixturevalue``) only for a real adapter's parameter, so the unit tier, which runs
the fakes' parameters alone, sets none of them up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from neo4j import AsyncDriver

from services.platform.resp import Resp
from services.platform.settings import Settings
from tests.contracts.world import Account, LiveGraph, LiveTweets, register
from tests.integration.graph.support import neo4j_driver

SETTINGS = Settings(service="tweets")


@pytest.fixture
async def neo4j() -> AsyncIterator[AsyncDriver]:
    driver = neo4j_driver()
    yield driver
    await driver.close()


@pytest.fixture
async def users_channel() -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(SETTINGS.users_addr) as channel:
        yield channel


@pytest.fixture
async def graph_channel() -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(SETTINGS.graph_addr) as channel:
        yield channel


@pytest.fixture
async def tweets_channel() -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(SETTINGS.tweets_addr) as channel:
        yield channel


@pytest.fixture
def live_graph(neo4j: AsyncDriver, resp: Resp) -> LiveGraph:
    return LiveGraph(neo4j, resp)


@pytest.fixture
def live_tweets(tweets_channel: grpc.aio.Channel, users_channel: grpc.aio.Channel) -> LiveTweets:
    return LiveTweets(tweets_channel, users_channel)


@pytest.fixture
async def account(users_channel: grpc.aio.Channel) -> Account:
    """A new account with the running users service."""
    return await register(users_channel)
