"""Hostile input through the gateway, and object-level authorization on every mutating route.

Bad requests are 4xx with a google.rpc.Status body that names the problem, never a 5xx or a
stack trace; nobody can edit, delete, or act as another account.
"""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.edge import error, register
from tests.integration.graph.support import Account

JsonObject = dict[str, Any]
ONE_MIB = 1 << 20


@pytest.fixture(scope="module")
def ada(client: httpx.Client) -> Account:
    return register(client, "ia")


@pytest.fixture(scope="module")
def bob(client: httpx.Client) -> Account:
    return register(client, "ib")


@pytest.fixture(scope="module")
def cid(client: httpx.Client) -> Account:
    return register(client, "ic")


def _ok(response: httpx.Response) -> JsonObject:
    assert response.status_code == 200, response.text
    body: JsonObject = response.json()
    return body


def _tweet(client: httpx.Client, author: Account, text: str) -> JsonObject:
    return _ok(client.post("/v1/tweets", json={"text": text}, headers=author.headers))


def _refused(response: httpx.Response, status: int, code: grpc.StatusCode, names: str) -> None:
    message = error(response, status, code)
    assert names in message, message
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


# (method, path, raw body, status, gRPC code, what the message must name); {tweet} is a tweet id.
HOSTILE: dict[str, tuple[str, str, bytes | None, int, grpc.StatusCode, str]] = {
    "body-over-1MiB": (
        "POST",
        "/v1/tweets",
        b'{"text": "' + b"a" * ONE_MIB + b'"}',
        413,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "Payload Too Large",
    ),
    "malformed-json": (
        "POST",
        "/v1/tweets",
        b'{"text": "hi"',
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "the request body is not valid JSON (at byte 14)",
    ),
    "json-not-an-object": (
        "POST",
        "/v1/tweets",
        b"[1, 2]",
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "the request body must be a JSON object",
    ),
    "not-utf8": (
        "POST",
        "/v1/tweets",
        b'{"text": "\xff\xfe"}',
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        'field "text" must be valid UTF-8',
    ),
    "unknown-field": (
        "POST",
        "/v1/tweets",
        b'{"text": "hi", "authorId": "1"}',
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        'unknown field "authorId"',
    ),
    "unknown-nested-field": (
        "PATCH",
        "/v1/tweets/{tweet}",
        b'{"text": "hi", "author": {"id": "1", "isAdmin": true}}',
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        'unknown field "author.isAdmin"',
    ),
    "acting-as-someone-else": (
        "POST",
        "/v1/tweets/{tweet}:like",
        b'{"userId": "1"}',
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        'unknown field "userId"',
    ),
    "wrong-type": (
        "POST",
        "/v1/tweets",
        b'{"text": 5}',
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "text: invalid value 5",
    ),
    "id-in-body-not-an-id": (
        "POST",
        "/v1/tweets",
        b'{"text": "hi", "replyToId": "abc"}',
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "reply_to_id",
    ),
    "path-and-body-disagree": (
        "PATCH",
        "/v1/tweets/{tweet}",
        b'{"id": "1", "text": "hi"}',
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "conflicting",
    ),
    "unknown-query-parameter": (
        "GET",
        "/v1/tweets/{tweet}?admin=true",
        None,
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        'Could not find field "admin"',
    ),
    "query-parameter-of-the-wrong-type": (
        "GET",
        "/v1/tweets/{tweet}/likes?pageSize=many",
        None,
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    ),
    "negative-page-size": (
        "GET",
        "/v1/tweets/{tweet}/likes?pageSize=-1",
        None,
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    ),
    "id-not-a-number": ("GET", "/v1/tweets/abc", None, 400, grpc.StatusCode.INVALID_ARGUMENT, "id"),
    "id-a-fraction": ("GET", "/v1/tweets/1.5", None, 400, grpc.StatusCode.INVALID_ARGUMENT, "id"),
    "id-too-large": (
        "GET",
        "/v1/tweets/99999999999999999999",
        None,
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "id",
    ),
    "id-negative": ("GET", "/v1/tweets/-5", None, 400, grpc.StatusCode.INVALID_ARGUMENT, "id"),
    "id-zero": ("DELETE", "/v1/tweets/0", None, 400, grpc.StatusCode.INVALID_ARGUMENT, "id"),
    "id-not-a-number-in-a-verb": (
        "POST",
        "/v1/tweets/abc:like",
        b"{}",
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "id",
    ),
    "username-not-a-username": (
        "GET",
        "/v1/users/" + "x" * 300,
        None,
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "username",
    ),
    "unknown-route": (
        "GET",
        "/v1/admin",
        None,
        404,
        grpc.StatusCode.NOT_FOUND,
        "Could not resolve /v1/admin",
    ),
    "unknown-mutation-route": (
        "POST",
        "/v1/tweets/{tweet}:pin",
        b"{}",
        404,
        grpc.StatusCode.NOT_FOUND,
        "Could not resolve",
    ),
    "unknown-method-on-a-known-path": (
        "PUT",
        "/v1/tweets/{tweet}",
        b"{}",
        404,
        grpc.StatusCode.NOT_FOUND,
        "Could not resolve",
    ),
    "outside-the-api": (
        "GET",
        "/etc/passwd",
        None,
        404,
        grpc.StatusCode.NOT_FOUND,
        "Could not resolve",
    ),
}


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "code", "names"), HOSTILE.values(), ids=HOSTILE.keys()
)
def test_hostile_input_is_refused_with_a_message_naming_the_problem(
    client: httpx.Client,
    ada: Account,
    method: str,
    path: str,
    content: bytes | None,
    status: int,
    code: grpc.StatusCode,
    names: str,
) -> None:
    tweet = _tweet(client, ada, "a target")["id"] if "{tweet}" in path else ""
    response = client.request(
        method,
        path.format(tweet=tweet),
        content=content,
        headers={**ada.headers, "content-type": "application/json"},
    )
    _refused(response, status, code, names)


def test_header_names_grpc_cannot_carry_are_refused(client: httpx.Client, ada: Account) -> None:
    # HTTP allows "!" and "^" in a header name; gRPC metadata does not (the service would fail).
    response = client.get(f"/v1/users/{ada.username}", headers={"x-a!b^c": "1"})
    _refused(response, 400, grpc.StatusCode.INVALID_ARGUMENT, 'invalid header name "x-a!b^c"')


@pytest.mark.parametrize(
    "header",
    [{"grpc-timeout": "soon"}, {"x-trace-bin": "not base64!"}, {"grpc-encoding": "zip"}],
    ids=["grpc-timeout", "binary-metadata", "grpc-encoding"],
)
def test_grpc_protocol_headers_from_clients_are_dropped(
    client: httpx.Client, ada: Account, header: dict[str, str]
) -> None:
    response = client.get(f"/v1/users/{ada.username}", headers=header)
    assert response.status_code == 200, response.text


def test_nobody_edits_or_deletes_another_accounts_tweet(
    client: httpx.Client, ada: Account, bob: Account
) -> None:
    tweet = _tweet(client, ada, "ada's words")
    path = f"/v1/tweets/{tweet['id']}"
    _refused(
        client.patch(path, json={"text": "bob's words"}, headers=bob.headers),
        403,
        grpc.StatusCode.PERMISSION_DENIED,
        "only its author",
    )
    _refused(
        client.delete(path, headers=bob.headers), 403, grpc.StatusCode.PERMISSION_DENIED, "author"
    )
    unchanged = _ok(client.get(path))
    assert (unchanged["text"], unchanged["author"]["id"]) == ("ada's words", str(ada.id))
    # Bob's own retweet of it is his to undo, and still not a way to delete Ada's tweet.
    retweet = _ok(client.post(f"{path}:retweet", json={}, headers=bob.headers))
    _refused(
        client.delete(f"/v1/tweets/{retweet['id']}", headers=ada.headers),
        403,
        grpc.StatusCode.PERMISSION_DENIED,
        "author",
    )
    assert _ok(client.get(path))["retweetCount"] == "1"


def test_likes_and_retweets_are_only_ever_the_callers_own(
    client: httpx.Client, ada: Account, bob: Account, cid: Account
) -> None:
    tweet = _tweet(client, cid, "like me")
    path = f"/v1/tweets/{tweet['id']}"
    _ok(client.post(f"{path}:like", json={}, headers=ada.headers))
    _ok(client.post(f"{path}:retweet", json={}, headers=ada.headers))
    # Bob undoing a like or a retweet undoes only his own (none): Ada's stay.
    _ok(client.post(f"{path}:unlike", json={}, headers=bob.headers))
    _ok(client.post(f"{path}:unretweet", json={}, headers=bob.headers))
    after = _ok(client.get(path))
    assert (after["likeCount"], after["retweetCount"]) == ("1", "1")
    likers = _ok(client.get(f"{path}/likes"))["users"]
    assert [user["id"] for user in likers] == [str(ada.id)]


def test_follows_are_only_ever_the_callers_own(
    client: httpx.Client, ada: Account, bob: Account, cid: Account
) -> None:
    _ok(client.post(f"/v1/users/{cid.username}:follow", json={}, headers=ada.headers))
    # Bob's unfollow of Cid is about Bob (who does not follow Cid), never about Ada.
    relationship = _ok(
        client.post(f"/v1/users/{cid.username}:unfollow", json={}, headers=bob.headers)
    )
    assert relationship["sourceUserId"] == str(bob.id)
    followers = _ok(client.get(f"/v1/users/{cid.username}/followers"))["users"]
    assert [user["id"] for user in followers] == [str(ada.id)]
    # Following names only the target; the follower is always the token's account.
    follow = _ok(client.post(f"/v1/users/{ada.username}:follow", json={}, headers=bob.headers))
    assert (follow["sourceUserId"], follow["targetUserId"]) == (str(bob.id), str(ada.id))


def test_a_profile_can_only_be_edited_by_its_owner(
    client: httpx.Client, ada: Account, bob: Account
) -> None:
    before = _ok(client.get(f"/v1/users/{ada.username}"))
    # Output-only fields in the body (an id, a username) are ignored, as AIP-203 asks: the
    # edit is always to the token's own account.
    edited = _ok(
        client.patch(
            "/v1/users/me",
            json={"id": str(ada.id), "username": ada.username, "displayName": "Bob B."},
            headers=bob.headers,
        )
    )
    assert (edited["id"], edited["username"], edited["displayName"]) == (
        str(bob.id),
        bob.username,
        "Bob B.",
    )
    assert _ok(client.get(f"/v1/users/{ada.username}")) == before
    # There is no route to edit someone else's profile.
    _refused(
        client.patch(f"/v1/users/{ada.username}", json={"displayName": "x"}, headers=bob.headers),
        404,
        grpc.StatusCode.NOT_FOUND,
        "Could not resolve",
    )
