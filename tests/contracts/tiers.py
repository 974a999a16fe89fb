"""The implementations a contract suite runs over, each in its tier: a fake, or a real adapter
that only computes, is a unit test; a real adapter on the local stack is an integration test
(``tests/conftest.py`` gives a contract test the tier its parameter carries)."""

from __future__ import annotations

import pytest
from _pytest.mark.structures import ParameterSet


def unit(name: str) -> ParameterSet:
    return pytest.param(name, marks=pytest.mark.unit)


def integration(name: str) -> ParameterSet:
    return pytest.param(name, marks=pytest.mark.integration)
