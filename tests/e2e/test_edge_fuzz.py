"""Schemathesis against the live gateway, with the OpenAPI document the gateway serves.

Every operation gets a bounded number of generated requests (valid and invalid ones), from a
fixed seed, authenticated as a fuzz account registered for the run; no answer may be a 5xx, every
answer must match the document (status codes, content types, JSON schemas of bodies and
errors), and operations that need a token must refuse requests without a valid one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.gen import OPENAPI
from tests.e2e.edge import register
from tests.integration.graph.support import Account
from tests.stack import GATEWAY

#: Generated requests per operation (and per generation mode).
EXAMPLES = 12
#: A long-lived stream: a generated request would hold its connection until the idle timeout.
STREAMS = ("TimelinesService_StreamHomeTimeline",)

# The committed document, which the gateway serves (tests/e2e/test_edge_cors.py checks that).
SCHEMA = schemathesis.openapi.from_path(OPENAPI).exclude(operation_id=list(STREAMS))


@pytest.fixture(scope="module")
def fuzzer() -> Iterator[Account]:
    with httpx.Client(base_url=GATEWAY, timeout=15) as client:
        yield register(client, "fz")


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_5xx(case: schemathesis.Case[Any], fuzzer: Account) -> None:
    case.call_and_validate(
        base_url=GATEWAY,
        headers=fuzzer.headers,
        timeout=15,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            # an operation that needs a token refuses a request without one, or a bad one
            ignored_auth,
        ],
    )
