"""The implementations a contract suite runs over, each in its tier: a fake, or a real adapter
that only computes, is a unit test; a real adapter on the local stack is an integration test
(``tests/conftest.py`` gives a contract test the tier its parameter carries).

A suite names them once: ``cache = implementations(memory=unit(_memory),
redis=integration(_redis))`` is a fixture ``cache`` that runs each test once per
implementation, each made by its function from the test's ``request``. A real adapter's function
asks for the stack's pieces there (``request.getfixturevalue``), so the unit tier, which runs
the fakes alone, never sets them up; each function's return type is the port, so mypy checks
that the fake and the adapter both implement it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import pytest
from _pytest.fixtures import FixtureFunctionDefinition

T = TypeVar("T")


@dataclass(frozen=True)
class Implementation(Generic[T]):
    tier: pytest.MarkDecorator
    make: Callable[[pytest.FixtureRequest], T]


def unit(make: Callable[[pytest.FixtureRequest], T]) -> Implementation[T]:
    return Implementation(pytest.mark.unit, make)


def integration(make: Callable[[pytest.FixtureRequest], T]) -> Implementation[T]:
    return Implementation(pytest.mark.integration, make)


def implementations(**named: Implementation[T]) -> FixtureFunctionDefinition:
    def made(request: pytest.FixtureRequest) -> T:
        return named[request.param].make(request)

    params = [pytest.param(name, marks=each.tier) for name, each in named.items()]
    return pytest.fixture(made, params=params)
