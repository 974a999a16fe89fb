"""Fixtures of the end-to-end tests: one HTTP client of the gateway per module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.stack import GATEWAY


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """A synchronous client of the local stack's gateway."""
    with httpx.Client(base_url=GATEWAY, timeout=30) as http:
        yield http
