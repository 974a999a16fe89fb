"""Accounts, sessions and profiles through Envoy on localhost:8080 to the running users service,
its internal RPCs over gRPC, and what it leaves in Cassandra, Redis and JetStream.

Usernames are random per run: the stores keep their data between runs.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cassandra.cluster import Session
from chirp.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from devstack.paths import ROOT
from services.platform.caches.user_cache import user_key
from services.platform.settings import Settings
from services.platform.subjects import USERS_CREATED, USERS_UPDATED
from tests import redis_py
from tests.integration.streams import event_of
from tests.stack import GATEWAY, direct_channel

SETTINGS = Settings(service="users")
PASSWORD = "correct horse battery"  # noqa: S105  (a test account's)
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
TIMEOUT = 10  # seconds, for direct gRPC calls


def _name(prefix: str = "t") -> str:
    """A username no earlier run took: at most 15 characters."""
    return f"{prefix}{uuid.uuid4().hex[: 15 - len(prefix)]}"


@dataclass(frozen=True)
class Account:
    user: dict[str, Any]
    token: str

    @property
    def id(self) -> int:
        return int(self.user["id"])

    @property
    def username(self) -> str:
        return str(self.user["username"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def users_stub() -> Iterator[users_service_pb2_grpc.UsersServiceStub]:
    with direct_channel(SETTINGS.users_addr) as channel:
        yield users_service_pb2_grpc.UsersServiceStub(channel)


def _register(client: httpx.Client, username: str, display_name: str = "") -> dict[str, Any]:
    response = client.post(
        "/v1/users",
        json={"username": username, "password": PASSWORD, "displayName": display_name},
    )
    assert response.status_code == 200, response.text
    user: dict[str, Any] = response.json()
    return user


def _log_in(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/v1/sessions", json={"username": username, "password": password})


def _account(client: httpx.Client, display_name: str = "") -> Account:
    user = _register(client, _name(), display_name)
    response = _log_in(client, user["username"])
    assert response.status_code == 200, response.text
    return Account(user, response.json()["accessToken"])


@pytest.fixture
def account(client: httpx.Client) -> Account:
    return _account(client, "Ada")


def _violations(response: httpx.Response) -> list[tuple[str, str]]:
    (detail,) = response.json()["details"]
    assert detail["@type"] == BAD_REQUEST
    return [(v["field"], v["description"]) for v in detail["fieldViolations"]]


# Registration ---------------------------------------------------------------------------------


def test_registration_answers_the_new_user(client: httpx.Client) -> None:
    username = _name("Ada_")
    before = datetime.now(UTC) - timedelta(seconds=1)
    user = _register(client, username, "Ada Lovelace")
    assert int(user["id"]) > 0
    assert user["username"] == username  # shown as registered, mixed case kept
    assert user["displayName"] == "Ada Lovelace"
    assert user["bio"] == ""
    created = datetime.fromisoformat(user["createTime"])
    assert before <= created <= datetime.now(UTC)
    assert (user["followerCount"], user["followingCount"], user["tweetCount"]) == ("0",) * 3
    assert "password" not in user
    assert "passwordHash" not in user


@pytest.mark.parametrize(
    ("body", "violations"),
    [
        ({"password": PASSWORD}, [("username", "is required")]),
        (
            {"username": "x" * 16, "password": PASSWORD},
            [("username", "must be 1 to 15 characters of letters A-Z, digits and '_'")],
        ),
        (
            {"username": "ada-lovelace", "password": PASSWORD},
            [("username", "must be 1 to 15 characters of letters A-Z, digits and '_'")],
        ),
        ({"username": "me", "password": PASSWORD}, [("username", "'me' is reserved")]),
        ({"username": "Settings", "password": PASSWORD}, [("username", "'Settings' is reserved")]),
        (
            {"username": "ada", "password": "x" * 7},
            [("password", "must be 8 to 128 characters long")],
        ),
        (
            {"username": "ada", "password": "x" * 129},
            [("password", "must be 8 to 128 characters long")],
        ),
        (
            {"username": "ada", "password": PASSWORD, "displayName": "x" * 51},
            [("display_name", "must be at most 50 characters")],
        ),
        (
            {"username": "ada", "password": PASSWORD, "displayName": "Ada\nLovelace"},
            [("display_name", "must not contain control characters")],
        ),
        (
            {"username": "me", "password": "short"},
            [("username", "'me' is reserved"), ("password", "must be 8 to 128 characters long")],
        ),
    ],
    ids=[
        "no-username",
        "username-16",
        "username-dash",
        "reserved-me",
        "reserved-any-case",
        "password-7",
        "password-129",
        "display-name-51",
        "display-name-control",
        "several-at-once",
    ],
)
def test_each_broken_registration_rule_is_a_400_naming_the_field(
    client: httpx.Client, body: dict[str, str], violations: list[tuple[str, str]]
) -> None:
    response = client.post("/v1/users", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert _violations(response) == violations


def test_the_limits_themselves_are_accepted(client: httpx.Client) -> None:
    username = _name("L")[:15]
    response = client.post(
        "/v1/users",
        json={"username": username, "password": "x" * 8, "displayName": "🐦" * 50},
    )
    assert response.status_code == 200, response.text
    assert response.json()["displayName"] == "🐦" * 50
    assert len(username) == 15


def test_a_taken_username_is_409_in_any_case(client: httpx.Client) -> None:
    username = _name("dup_")
    _register(client, username)
    response = client.post("/v1/users", json={"username": username.upper(), "password": PASSWORD})
    assert response.status_code == 409
    assert response.json()["message"] == f"the username '{username.upper()}' is taken"


async def test_twenty_concurrent_registrations_of_one_name_make_one_account(
    session: Session,
) -> None:
    username = _name("race_")
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v1/users",
                    json={
                        "username": username if i % 2 else username.upper(),
                        "password": PASSWORD,
                    },
                )
                for i in range(20)
            )
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [409] * 19
    (winner,) = [response.json() for response in responses if response.status_code == 200]
    claims = list(
        session.execute(
            "SELECT user_id FROM users_by_username WHERE username_folded = %s", (username.lower(),)
        )
    )
    assert [row.user_id for row in claims] == [int(winner["id"])]
    accounts = [
        row.id
        for name in (username, username.upper())
        for row in session.execute(
            "SELECT id FROM users WHERE username = %s ALLOW FILTERING", (name,)
        )
    ]
    assert accounts == [int(winner["id"])]


async def test_a_registration_publishes_users_created() -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=15) as client:
        response = await client.post(
            "/v1/users",
            json={"username": _name("ev_"), "password": PASSWORD, "displayName": "Evented"},
        )
    assert response.status_code == 200, response.text
    user = response.json()
    event = await event_of(
        USERS_CREATED,
        since,
        lambda event: event.user.id == int(user["id"]),
    )
    assert (event.user.username, event.user.display_name) == (user["username"], "Evented")
    assert event.occur_time.ToDatetime(tzinfo=UTC) == datetime.fromisoformat(user["createTime"])


# Sessions -------------------------------------------------------------------------------------


def _published_key(client: httpx.Client) -> tuple[str, Ed25519PublicKey]:
    response = client.get("/v1/sessions/keys")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
    return key["kid"], Ed25519PublicKey.from_public_bytes(raw)


def test_login_issues_a_token_verifiable_with_the_published_key(client: httpx.Client) -> None:
    username = _name("Lg_")
    user = _register(client, username)
    response = _log_in(client, username.swapcase())  # usernames are case-insensitive
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["id"] == user["id"]
    assert body["user"]["followerCount"] == "0"
    kid, public_key = _published_key(client)
    assert jwt.get_unverified_header(body["accessToken"])["kid"] == kid
    claims = jwt.decode(
        body["accessToken"], public_key, algorithms=["EdDSA"], issuer=SETTINGS.tokens.issuer
    )
    assert claims["sub"] == user["id"]
    assert claims["username"] == username
    assert claims["exp"] - claims["iat"] == SETTINGS.sessions.ttl_seconds
    assert datetime.fromisoformat(body["expireTime"]).timestamp() == claims["exp"]
    assert abs(claims["iat"] - time.time()) < 60


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(client: httpx.Client) -> None:
    username = _name("pw_")
    _register(client, username)
    wrong = _log_in(client, username, "not the password")
    unknown = _log_in(client, _name("nobody_"))
    malformed = _log_in(client, "not a username!")
    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    assert wrong.json() == unknown.json() == malformed.json()
    assert wrong.json()["message"] == "wrong username or password"


def test_login_needs_both_fields(client: httpx.Client) -> None:
    response = client.post("/v1/sessions", json={"username": "ada"})
    assert response.status_code == 400
    assert _violations(response) == [("password", "is required")]


def test_the_token_is_accepted_by_another_services_interceptor(
    client: httpx.Client, account: Account
) -> None:
    # search (through the gateway) and graph (directly over gRPC) check tokens themselves.
    assert client.get("/v1/trends", headers=account.headers).status_code != 401
    assert client.get("/v1/trends", headers={"Authorization": "Bearer forged"}).status_code == 401
    with direct_channel(SETTINGS.graph_addr) as channel:
        graph = graph_service_pb2_grpc.GraphServiceStub(channel)
        request = graph_service_pb2.BatchGetFollowCountsRequest(user_ids=[account.id])

        def code_with(token: str) -> grpc.StatusCode:
            try:
                graph.BatchGetFollowCounts(
                    request, metadata=(("authorization", f"Bearer {token}"),), timeout=5
                )
            except grpc.RpcError as error:
                return error.code()
            return grpc.StatusCode.OK

        assert code_with(account.token) != grpc.StatusCode.UNAUTHENTICATED
        assert code_with(f"{account.token}x") == grpc.StatusCode.UNAUTHENTICATED


def _signed(key: Ed25519PrivateKey, **claims: Any) -> str:
    return jwt.encode(claims, key, algorithm="EdDSA")


def test_forged_expired_and_tampered_tokens_are_401(client: httpx.Client, account: Account) -> None:
    signing_key = serialization.load_pem_private_key(
        (ROOT / SETTINGS.private_key_path).read_bytes(), password=None
    )
    assert isinstance(signing_key, Ed25519PrivateKey)
    now = int(time.time())
    claims = {"sub": str(account.id), "username": account.username, "iss": SETTINGS.tokens.issuer}
    header, _, signature = account.token.split(".")
    other_payload = base64.urlsafe_b64encode(
        f'{{"sub":"1","iss":"{SETTINGS.tokens.issuer}","iat":{now},"exp":{now + 60}}}'.encode()
    ).rstrip(b"=")
    tokens = {
        "forged": _signed(Ed25519PrivateKey.generate(), **claims, iat=now, exp=now + 600),
        "expired": _signed(signing_key, **claims, iat=now - 7200, exp=now - 3600),
        "other-issuer": _signed(signing_key, **{**claims, "iss": "evil"}, iat=now, exp=now + 60),
        "tampered": f"{header}.{other_payload.decode()}.{signature}",
        "unsigned": jwt.encode({**claims, "iat": now, "exp": now + 60}, "", algorithm="none"),
    }
    assert client.get("/v1/users/me", headers=account.headers).status_code == 200
    for name, token in tokens.items():
        response = client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["message"].startswith("invalid access token"), name


# Profiles -------------------------------------------------------------------------------------


def test_me_needs_a_token(client: httpx.Client) -> None:
    assert client.get("/v1/users/me").status_code == 401
    response = client.patch("/v1/users/me", json={"bio": "hello"})
    assert response.status_code == 401
    assert "needs an access token" in response.json()["message"]


def test_me_is_the_callers_full_profile(client: httpx.Client, account: Account) -> None:
    response = client.get("/v1/users/me", headers=account.headers)
    assert response.status_code == 200
    assert response.json() == {
        **account.user,
        "followerCount": "0",
        "followingCount": "0",
        "tweetCount": "0",
    }


def test_a_profile_read_before_a_post_a_retweet_and_a_delete_counts_each_at_the_next_read(
    client: httpx.Client, account: Account
) -> None:
    other = _account(client)
    path = f"/v1/users/{account.user['username']}"

    def tweet_count() -> str:
        response = client.get(path, headers=other.headers)
        assert response.status_code == 200, response.text
        return str(response.json()["tweetCount"])

    assert tweet_count() == "0"
    posted = client.post("/v1/tweets", json={"text": "counted"}, headers=account.headers).json()
    assert tweet_count() == "1"
    theirs = client.post("/v1/tweets", json={"text": "theirs"}, headers=other.headers).json()
    retweet = client.post(f"/v1/tweets/{theirs['id']}:retweet", json={}, headers=account.headers)
    assert retweet.status_code == 200, retweet.text
    assert tweet_count() == "2"
    deleted = client.delete(f"/v1/tweets/{posted['id']}", headers=account.headers)
    assert deleted.status_code == 200, deleted.text
    assert tweet_count() == "1"


def test_a_profile_is_found_by_username_in_any_case(client: httpx.Client, account: Account) -> None:
    response = client.get(f"/v1/users/{account.username.upper()}")
    assert response.status_code == 200
    assert response.json()["id"] == account.user["id"]
    assert {"followerCount", "followingCount", "tweetCount"} <= response.json().keys()
    seen_by_other = client.get(f"/v1/users/{account.username}", headers=account.headers)
    assert seen_by_other.status_code == 200


def test_unknown_and_malformed_usernames(client: httpx.Client) -> None:
    missing = client.get(f"/v1/users/{_name('nobody_')}")
    assert missing.status_code == 404
    assert missing.json()["code"] == grpc.StatusCode.NOT_FOUND.value[0]
    malformed = client.get("/v1/users/not-a-name")
    assert malformed.status_code == 400
    assert [field for field, _ in _violations(malformed)] == ["username"]


async def test_an_update_writes_the_masked_fields_and_publishes_users_updated(
    account: Account,
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=15) as client:
        response = await client.patch(
            "/v1/users/me?updateMask=bio",
            headers=account.headers,
            json={"displayName": "not written", "bio": "Analytical engines"},
        )
        assert response.status_code == 200, response.text
        written = ("Ada", "Analytical engines")
        assert (response.json()["displayName"], response.json()["bio"]) == written
        again = (await client.get(f"/v1/users/{account.username}")).json()
        assert (again["displayName"], again["bio"]) == written
    event = await event_of(
        USERS_UPDATED,
        since,
        lambda event: event.user.id == account.id,
    )
    assert list(event.update_mask.paths) == ["bio"]
    assert (event.user.display_name, event.user.bio) == written


def test_without_a_mask_the_non_empty_fields_are_written_and_star_clears(
    client: httpx.Client, account: Account
) -> None:
    response = client.patch(
        "/v1/users/me", headers=account.headers, json={"displayName": "Ada L.", "bio": ""}
    )
    assert (response.json()["displayName"], response.json()["bio"]) == ("Ada L.", "")
    client.patch("/v1/users/me", headers=account.headers, json={"bio": "poet"})
    cleared = client.patch(
        "/v1/users/me?updateMask=*", headers=account.headers, json={"displayName": "Ada"}
    )
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["displayName"], cleared.json()["bio"]) == ("Ada", "")


@pytest.mark.parametrize(
    ("query", "body", "violations"),
    [
        (
            "?updateMask=username",
            {"username": "someone_else"},
            [("update_mask", "'username' cannot be updated: only display_name and bio can change")],
        ),
        ("?updateMask=bio", {"bio": "x" * 161}, [("user.bio", "must be at most 160 characters")]),
        (
            "?updateMask=displayName",
            {"displayName": "a\tb"},
            [("user.display_name", "must not contain control characters")],
        ),
    ],
    ids=["immutable-field", "bio-161", "display-name-control"],
)
def test_bad_updates_are_400_naming_the_field(
    client: httpx.Client,
    account: Account,
    query: str,
    body: dict[str, str],
    violations: list[tuple[str, str]],
) -> None:
    response = client.patch(f"/v1/users/me{query}", headers=account.headers, json=body)
    assert response.status_code == 400
    assert _violations(response) == violations


def test_a_bio_of_160_characters_is_accepted(client: httpx.Client, account: Account) -> None:
    response = client.patch("/v1/users/me", headers=account.headers, json={"bio": "é" * 160})
    assert response.status_code == 200
    assert response.json()["bio"] == "é" * 160


# Internal RPCs and the cache -------------------------------------------------------------------


def test_batch_get_users_keeps_order_skips_missing_and_caches(
    client: httpx.Client, users_stub: users_service_pb2_grpc.UsersServiceStub
) -> None:
    first, second = _register(client, _name("b1_")), _register(client, _name("b2_"))
    ids = [int(second["id"]), 1, int(first["id"]), int(second["id"])]
    with redis_py.sync_client() as redis:
        redis.delete(user_key(int(first["id"])))
        response = users_stub.BatchGetUsers(
            users_service_pb2.BatchGetUsersRequest(ids=ids), timeout=TIMEOUT
        )
        assert [user.id for user in response.users] == [int(second["id"]), int(first["id"])]
        assert response.users[0].username == second["username"]
        cached = redis.hget(user_key(int(first["id"])), "user")
        assert cached is not None
        assert user_pb2.User.FromString(cached).username == first["username"]


def test_an_update_is_in_the_cache_and_the_batches_at_once(
    client: httpx.Client, account: Account, users_stub: users_service_pb2_grpc.UsersServiceStub
) -> None:
    client.patch("/v1/users/me", headers=account.headers, json={"displayName": "Renamed"})
    with redis_py.sync_client() as redis:
        cached = redis.hget(user_key(account.id), "user")
    assert cached is not None
    assert user_pb2.User.FromString(cached).display_name == "Renamed"
    response = users_stub.BatchGetUsersByUsername(
        users_service_pb2.BatchGetUsersByUsernameRequest(
            usernames=[account.username.upper(), "nobody_here", account.username]
        ),
        timeout=TIMEOUT,
    )
    assert [(user.id, user.display_name) for user in response.users] == [(account.id, "Renamed")]


def test_the_full_view_of_a_batch_has_counts_and_relationship_flags(
    account: Account, users_stub: users_service_pb2_grpc.UsersServiceStub
) -> None:
    response = users_stub.BatchGetUsers(
        users_service_pb2.BatchGetUsersRequest(ids=[account.id], view=user_pb2.USER_VIEW_FULL),
        timeout=TIMEOUT,
    )
    (user,) = response.users
    assert (user.follower_count, user.following_count, user.tweet_count) == (0, 0, 0)
    assert not user.HasField("caller_follows")  # no caller: no relationship


def test_batches_over_100_are_invalid(users_stub: users_service_pb2_grpc.UsersServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        users_stub.BatchGetUsers(
            users_service_pb2.BatchGetUsersRequest(ids=range(1, 102)), timeout=TIMEOUT
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_stream_users_yields_every_account_in_batches(
    client: httpx.Client, users_stub: users_service_pb2_grpc.UsersServiceStub
) -> None:
    registered = {int(_register(client, _name("s_"))["id"]) for _ in range(2)}
    batches = list(
        users_stub.StreamUsers(
            users_service_pb2.StreamUsersRequest(batch_size=100), timeout=TIMEOUT
        )
    )
    assert all(0 < len(batch.users) <= 100 for batch in batches)
    streamed = [user.id for batch in batches for user in batch.users]
    assert len(streamed) == len(set(streamed))
    assert registered <= set(streamed)
    with pytest.raises(grpc.RpcError) as raised:
        list(
            users_stub.StreamUsers(
                users_service_pb2.StreamUsersRequest(batch_size=1001), timeout=TIMEOUT
            )
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_session_issued_to_a_service_signs_the_account_in(
    client: httpx.Client, account: Account, users_stub: users_service_pb2_grpc.UsersServiceStub
) -> None:
    session = users_stub.IssueSession(
        users_service_pb2.IssueSessionRequest(user_id=account.id), timeout=TIMEOUT
    )
    assert session.user.id == account.id
    me = client.get("/v1/users/me", headers={"Authorization": f"Bearer {session.access_token}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == account.user["username"]
    with pytest.raises(grpc.RpcError) as raised:
        users_stub.IssueSession(
            users_service_pb2.IssueSessionRequest(user_id=2**62), timeout=TIMEOUT
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
