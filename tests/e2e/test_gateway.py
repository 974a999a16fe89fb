"""Through Envoy on localhost:8080 to the real services: transcoding, errors, limits."""

from __future__ import annotations

import uuid

import grpc
import httpx
import pytest
from chirp.users.v1 import users_service_pb2, users_service_pb2_grpc

from devstack.components import replica_ports


def _metric(port: int, line_start: str) -> float:
    """The sum of a metric's series over every process of the service (the cluster shape runs
    two, each with its own /metrics)."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for each in replica_ports(port)
        for line in httpx.get(f"http://127.0.0.1:{each}/metrics", timeout=5).text.splitlines()
        if line.startswith(line_start)
    ]
    return sum(values)


def test_a_json_request_reaches_its_service(client: httpx.Client) -> None:
    handled = 'grpc_server_handled_total{grpc_code="OK",grpc_method="CreateUser"'
    before = _metric(9101, handled)
    username = f"gw_{uuid.uuid4().hex[:12]}"
    response = client.post(
        "/v1/users", json={"username": username, "password": "correct horse", "displayName": "Ada"}
    )
    # The camelCase JSON body was transcoded (displayName), routed to the users service and
    # handled there (the new account comes back in proto3 JSON, counted in its metrics).
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    user = response.json()
    assert (user["username"], user["displayName"]) == (username, "Ada")
    assert isinstance(user["id"], str)  # a 64-bit id, as a JSON string
    assert int(user["id"]) > 0
    assert _metric(9101, handled) == before + 1


def test_trends_answer_json_from_envoy(client: httpx.Client) -> None:
    response = client.get("/v1/trends")
    assert response.headers["server"] == "envoy"
    assert response.headers["content-type"] == "application/json"
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["trends"], list)


def test_a_grpc_error_becomes_its_http_code_with_a_json_body(client: httpx.Client) -> None:
    response = client.get(f"/v1/users/nobody{uuid.uuid4().hex[:8]}")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert body["message"].startswith("there is no user")


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "message_part"),
    [
        ("GET", "/v1/no-such-route", None, 404, "Could not resolve /v1/no-such-route"),
        ("GET", "/v1/trends?color=blue", None, 400, 'Could not find field "color"'),
        ("POST", "/v1/users", b'{"username": ', 400, "not valid JSON (at byte 14)"),
        (
            "POST",
            "/v1/users",
            b'{"username": "' + b"a" * (1 << 20) + b'"}',
            413,
            "Payload Too Large",
        ),
    ],
    ids=["unknown-route", "unknown-query-parameter", "malformed-json", "body-over-1MiB"],
)
def test_the_gateway_refuses_bad_requests_with_json(
    client: httpx.Client,
    method: str,
    path: str,
    content: bytes | None,
    status: int,
    message_part: str,
) -> None:
    response = client.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert message_part in response.json()["message"]


def test_internal_rpcs_are_not_reachable_through_the_gateway() -> None:
    with grpc.insecure_channel("127.0.0.1:8080") as channel:
        stub = users_service_pb2_grpc.UsersServiceStub(channel)
        with pytest.raises(grpc.RpcError) as batch:
            stub.BatchGetUsers(users_service_pb2.BatchGetUsersRequest(), timeout=5)
        with pytest.raises(grpc.RpcError) as session:  # a session without a password
            stub.IssueSession(users_service_pb2.IssueSessionRequest(user_id=1), timeout=5)
    assert batch.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert session.value.code() == grpc.StatusCode.PERMISSION_DENIED
