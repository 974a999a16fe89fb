"""The tweets.* events, watched on the real stream through tests/integration/streams.py."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from tests.integration import streams
from tests.integration.streams import Received


async def create_consumer() -> str:
    """A new durable consumer of every tweets.* subject, from now on; returns its name."""
    return await streams.create_consumer("tweets")


async def delete_consumer(name: str) -> None:
    await streams.delete_consumer(name)


def receiving(name: str) -> AbstractAsyncContextManager[Received]:
    return streams.receiving(name)


def watching() -> AbstractAsyncContextManager[Received]:
    """Every tweets.* event published from now on, through a consumer deleted afterwards."""
    return streams.watching("tweets")
