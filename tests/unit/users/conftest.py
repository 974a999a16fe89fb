"""The users domain's fixture: a service on in-memory adapters (``fakes.py``)."""

from __future__ import annotations

import pytest

from tests.unit.users.fakes import World, new_world


@pytest.fixture
def world() -> World:
    return new_world()
