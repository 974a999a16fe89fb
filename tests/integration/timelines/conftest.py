"""Fixtures of the timelines store's integration tests."""

from __future__ import annotations

import pytest

from services.platform.resp import RespClient
from services.timelines.adapters.store import RedisTimelineStore


@pytest.fixture
def store(resp: RespClient) -> RedisTimelineStore:
    """The store on the stack's Redis, timelines of five ids (so trims show in a few pushes)."""
    return RedisTimelineStore(resp, length=5, active_seconds=600)
