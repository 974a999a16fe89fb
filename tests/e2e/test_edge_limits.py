"""Rate limits: Envoy's per-address and per-account buckets, and the services' own on Redis.

Every client of the local stack comes from loopback, which the gateway exempts from its
per-client limits. So the gateway's limits are tested on a second Envoy started here from the
very same configuration (``localize`` of gateway/envoy.yaml), changed in three ways only: its
own ports, small buckets, and only 127.0.0.2 exempt instead of all of loopback. Linux routes all
of 127.0.0.0/8 to loopback, so clients bound to 127.0.0.3, .4, ... are distinct addresses.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import redis
import yaml

from devstack.envoy import SOURCE_CONFIG, gateway_manager, localize, plain_http_only
from devstack.paths import VENV_BIN
from services.platform.ratelimit import Limit, Limits, redis_key
from services.platform.settings import Settings
from tests import redis_py
from tests.e2e.edge import PASSWORD, UPSTREAM_TIME, error, register
from tests.integration.graph.support import Account
from tests.processes import free_port
from tests.stack import GATEWAY

LIMITS = Limits.from_settings(Settings(service="users"))
EXEMPT = "127.0.0.2"
ANONYMOUS_BURST = 3
ACCOUNT_BURST = 5
REFILL_SECONDS = 600  # no token comes back during a test


def limited_gateway_config(port: int, admin_port: int) -> dict[str, Any]:
    """Production's gateway, localized, on other ports, with small buckets and one exempt host."""
    config = plain_http_only(localize(yaml.safe_load(SOURCE_CONFIG.read_text())))
    config["admin"]["address"]["socket_address"]["port_value"] = admin_port
    config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"] = port
    manager = gateway_manager(config)
    manager["internal_address_config"]["cidr_ranges"] = [
        {"address_prefix": EXEMPT, "prefix_len": 32}
    ]
    (limiter,) = (f for f in manager["http_filters"] if f["name"].endswith("local_ratelimit"))
    anonymous, per_account = limiter["typed_config"]["descriptors"]
    for descriptor, burst in ((anonymous, ANONYMOUS_BURST), (per_account, ACCOUNT_BURST)):
        descriptor["token_bucket"] = {
            "max_tokens": burst,
            "tokens_per_fill": 1,
            "fill_interval": f"{REFILL_SECONDS}s",
        }
    (retry_after,) = limiter["typed_config"]["response_headers_to_add"]
    retry_after["header"]["value"] = str(REFILL_SECONDS)
    return config


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second gateway, started for this module; its base URL."""
    port, admin_port = free_port(), free_port()
    config_path: Path = tmp_path_factory.mktemp("edge") / "envoy.yaml"
    config_path.write_text(yaml.safe_dump(limited_gateway_config(port, admin_port)))
    log = (config_path.parent / "envoy.log").open("wb")
    envoy = subprocess.Popen(
        [
            str(VENV_BIN / "envoy"),
            "--config-path", str(config_path),
            "--disable-hot-restart",
            "--concurrency", "1",
            "--log-level", "warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert envoy.poll() is None, (config_path.parent / "envoy.log").read_text()
            try:
                ready = httpx.get(f"http://127.0.0.1:{admin_port}/ready", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the test gateway did not become ready"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        envoy.terminate()
        envoy.wait(timeout=10)
        log.close()


def _from(address: str, base_url: str) -> httpx.Client:
    """A client whose connections come from ``address``."""
    return httpx.Client(
        base_url=base_url, timeout=15, transport=httpx.HTTPTransport(local_address=address)
    )


@pytest.fixture(scope="module")
def gateway() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=GATEWAY, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def accounts(gateway: httpx.Client) -> list[Account]:
    return [register(gateway, "el") for _ in range(2)]


def _assert_limited(response: httpx.Response) -> int:
    """A 429 from the gateway itself, with Retry-After; returns the Retry-After seconds."""
    message = error(response, 429, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert message.startswith("too many requests from this client")
    assert UPSTREAM_TIME not in response.headers
    return int(response.headers["retry-after"])


def test_anonymous_requests_are_limited_per_address(edge: str, accounts: list[Account]) -> None:
    path = f"/v1/users/{accounts[0].username}"
    with _from("127.0.0.3", edge) as limited, _from("127.0.0.4", edge) as other:
        for _ in range(ANONYMOUS_BURST):
            assert limited.get(path).status_code == 200
        assert _assert_limited(limited.get(path)) == REFILL_SECONDS
        # Forged headers do not make a client internal, nor someone else.
        for forged in ({"x-envoy-internal": "true"}, {"x-forwarded-for": "127.0.0.2"}):
            _assert_limited(limited.get(path, headers=forged))
        # Another address is not affected.
        assert other.get(path).status_code == 200
        assert other.headers.get("retry-after") is None


def test_requests_with_a_token_are_limited_per_account(edge: str, accounts: list[Account]) -> None:
    ada, bob = accounts
    with _from("127.0.0.5", edge) as first, _from("127.0.0.6", edge) as second:
        for _ in range(ACCOUNT_BURST):
            assert first.get("/v1/users/me", headers=ada.headers).status_code == 200
        _assert_limited(first.get("/v1/users/me", headers=ada.headers))
        # The same account from another address is limited too; another account is not,
        # even from the first address, whose anonymous bucket is untouched as well.
        _assert_limited(second.get("/v1/users/me", headers=ada.headers))
        assert first.get("/v1/users/me", headers=bob.headers).status_code == 200
        assert first.get(f"/v1/users/{bob.username}").status_code == 200


def test_exempt_addresses_are_not_limited(edge: str, accounts: list[Account]) -> None:
    with _from(EXEMPT, edge) as exempt:
        for _ in range(3 * ACCOUNT_BURST):
            assert exempt.get(f"/v1/users/{accounts[1].username}").status_code == 200
            assert exempt.get("/v1/users/me", headers=accounts[1].headers).status_code == 200


def _assert_service_limited(response: httpx.Response, action: str, window_seconds: int) -> None:
    """A 429 from a service: its message, Retry-After, and the RetryInfo detail agree."""
    message = error(response, 429, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert message.startswith(f"too many {action}")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window_seconds
    assert f"retry in {retry_after} s" in message
    (detail,) = response.json()["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
    assert detail["retryDelay"] == f"{retry_after}s"


def test_log_in_attempts_are_limited_per_username(gateway: httpx.Client) -> None:
    target, bystander = register(gateway, "lt"), register(gateway, "lb")
    # register() logged in once: every attempt counts, the successful ones too.
    for attempt in range(LIMITS.sign_ins.requests - 1):
        # any case: it is the same account
        username = target.username.upper() if attempt % 2 else target.username
        wrong = gateway.post("/v1/sessions", json={"username": username, "password": "guess1234"})
        assert wrong.status_code == 401
    right = gateway.post("/v1/sessions", json={"username": target.username, "password": PASSWORD})
    _assert_service_limited(
        right, "log-in attempts for this username", LIMITS.sign_ins.window_seconds
    )
    other = gateway.post(
        "/v1/sessions", json={"username": bystander.username, "password": PASSWORD}
    )
    assert other.status_code == 200, other.text
    # The limited account's existing token still works: only logging in is limited.
    assert gateway.get("/v1/users/me", headers=target.headers).status_code == 200


@pytest.fixture(scope="module")
def store() -> Iterator[redis.Redis]:
    client = redis_py.sync_client()
    yield client
    client.close()


def _use_up(store: redis.Redis, limit: Limit, account: Account) -> None:
    """Puts ``account`` at its limit, as ``limit.requests`` actions in this window would."""
    store.set(redis_key(limit, str(account.id)), limit.requests, ex=limit.window_seconds)


def test_posts_are_limited_per_account(
    gateway: httpx.Client, store: redis.Redis, accounts: list[Account]
) -> None:
    limited, other = register(gateway, "lp"), accounts[0]
    assert gateway.post("/v1/tweets", json={"text": "one"}, headers=limited.headers).is_success
    _use_up(store, LIMITS.posts, limited)
    response = gateway.post("/v1/tweets", json={"text": "two"}, headers=limited.headers)
    _assert_service_limited(response, "posts", LIMITS.posts.window_seconds)
    assert gateway.post("/v1/tweets", json={"text": "mine"}, headers=other.headers).is_success


def test_follows_are_limited_per_account(
    gateway: httpx.Client, store: redis.Redis, accounts: list[Account]
) -> None:
    limited, other = register(gateway, "lf"), accounts[0]
    target = accounts[1].username
    _use_up(store, LIMITS.follows, limited)
    response = gateway.post(f"/v1/users/{target}:follow", json={}, headers=limited.headers)
    _assert_service_limited(response, "follows", LIMITS.follows.window_seconds)
    followed = gateway.post(f"/v1/users/{target}:follow", json={}, headers=other.headers)
    assert followed.status_code == 200, followed.text
    # Unfollowing is never limited.
    unfollowed = gateway.post(f"/v1/users/{target}:unfollow", json={}, headers=limited.headers)
    assert unfollowed.status_code == 200, unfollowed.text
