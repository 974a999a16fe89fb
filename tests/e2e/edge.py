"""What the edge tests share: the gateway's address, real accounts, and error checks."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import httpx

from tests.integration.graph.support import Account

PASSWORD = "correct horse battery"  # noqa: S105  (test accounts')
#: A header the gateway adds to what a service answered: absent, the gateway answered itself.
UPSTREAM_TIME = "x-envoy-upstream-service-time"


def register(client: httpx.Client, prefix: str = "e") -> Account:
    """A real account, registered and logged in through the gateway."""
    username = f"{prefix}{uuid.uuid4().hex[:10]}"
    created = client.post(
        "/v1/users", json={"username": username, "password": PASSWORD, "displayName": "Edge"}
    )
    assert created.status_code == 200, created.text
    session = client.post("/v1/sessions", json={"username": username, "password": PASSWORD})
    assert session.status_code == 200, session.text
    return Account(int(created.json()["id"]), username, session.json()["accessToken"])


def error(response: httpx.Response, status: int, code: grpc.StatusCode) -> str:
    """Checks an error's HTTP status and google.rpc.Status body; returns its message."""
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == code.value[0], body
    message: str = body["message"]
    assert message
    return message


def ok(response: httpx.Response) -> dict[str, Any]:
    """A 200's JSON body (the request and the body said otherwise)."""
    assert response.status_code == 200, (response.request.url, response.text)
    body: dict[str, Any] = response.json()
    return body
