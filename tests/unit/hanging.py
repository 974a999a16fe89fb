"""Tests that hang on purpose, run by ``test_no_test_hangs.py`` in a pytest of their own
(the name keeps the suite from collecting them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


async def stuck_in_the_test() -> None:
    await asyncio.Event().wait()


async def test_an_await_that_never_ends() -> None:
    await stuck_in_the_test()


@pytest.fixture
async def stuck_in_teardown() -> AsyncIterator[None]:
    yield
    await asyncio.Event().wait()


@pytest.mark.usefixtures("stuck_in_teardown")
async def test_a_teardown_that_never_ends() -> None:
    pass
