"""Browser clients: CORS at the gateway, and the OpenAPI document it serves."""

from __future__ import annotations

import os

import httpx

from devstack.envoy import CORS_ORIGINS_ENV, LOCAL_CORS_ORIGINS
from devstack.gen import OPENAPI
from tests.e2e.edge import UPSTREAM_TIME

#: The local stack allows LOCAL_CORS_ORIGINS unless CHIRP_CORS_ORIGINS says otherwise.
ALLOWED = (os.environ.get(CORS_ORIGINS_ENV) or LOCAL_CORS_ORIGINS).split(",")[0].strip()
OTHER = "https://evil.example"


def _preflight(client: httpx.Client, origin: str, method: str, headers: str) -> httpx.Response:
    return client.options(
        "/v1/tweets",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_a_preflight_from_an_allowed_origin_is_answered_by_the_gateway(
    client: httpx.Client,
) -> None:
    response = _preflight(client, ALLOWED, "POST", "authorization, content-type")
    assert response.status_code == 200
    assert UPSTREAM_TIME not in response.headers
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"]
    assert {"authorization", "content-type"} <= {h.strip() for h in allowed_headers.split(",")}
    assert int(response.headers["access-control-max-age"]) > 0


def test_a_preflight_from_another_origin_gets_no_permission(client: httpx.Client) -> None:
    response = _preflight(client, OTHER, "POST", "authorization")
    assert "access-control-allow-origin" not in response.headers


def test_responses_to_an_allowed_origin_carry_cors_headers(client: httpx.Client) -> None:
    response = client.get("/v1/trends", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    # Scripts may read the limits and the request id.
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "x-request-id"} <= exposed
    other = client.get("/v1/trends", headers={"Origin": OTHER})
    assert "access-control-allow-origin" not in other.headers


def test_the_gateway_serves_the_committed_openapi_document(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == OPENAPI.read_text()
    assert response.json()["info"]["title"] == "Chirp API"
    assert client.post("/openapi.json", json={}).status_code == 404
