"""Shared pieces of the timelines tests: accounts, follows, tweets and home pages through the
gateway, and the timelines' Redis keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from redis.asyncio import Redis

from services.platform.settings import Settings
from services.timelines.adapters.store import SENTINEL, home_key
from tests.integration.graph.support import Account, register
from tests.integration.tweets.tokens import mint, random_user_id
from tests.stack import GATEWAY

SETTINGS = Settings(service="timelines")
#: The local stack's threshold (devstack/components.py): more followers than this = celebrity.
THRESHOLD = 5
WAIT_SECONDS = 15.0
JsonObject = dict[str, Any]
T = TypeVar("T")

__all__ = ["GATEWAY", "Account", "register"]


@dataclass(frozen=True)
class Anonymous:
    """A user with a token but no account (follows and tweets by id, shown by id)."""

    id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(self.id)}"}


def anonymous() -> Anonymous:
    return Anonymous(random_user_id())


Someone = Account | Anonymous


async def follow(
    http: httpx.AsyncClient, who: Someone, username: str, verb: str = "follow"
) -> None:
    response = await http.post(f"/v1/users/{username}:{verb}", json={}, headers=who.headers)
    assert response.status_code == 200, response.text


async def post(http: httpx.AsyncClient, author: Someone, text: str) -> int:
    response = await http.post("/v1/tweets", json={"text": text}, headers=author.headers)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


async def retweet(http: httpx.AsyncClient, who: Someone, tweet_id: int) -> int:
    response = await http.post(f"/v1/tweets/{tweet_id}:retweet", json={}, headers=who.headers)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


async def delete(http: httpx.AsyncClient, author: Someone, tweet_id: int) -> None:
    response = await http.delete(f"/v1/tweets/{tweet_id}", headers=author.headers)
    assert response.status_code == 200, response.text


async def page(
    http: httpx.AsyncClient, reader: Someone, size: int = 0, token: str = ""
) -> JsonObject:
    params: dict[str, str | int] = {}
    if size:
        params["pageSize"] = size
    if token:
        params["pageToken"] = token
    response = await http.get("/v1/timelines/home", params=params, headers=reader.headers)
    assert response.status_code == 200, response.text
    body: JsonObject = response.json()
    return body


async def home_ids(http: httpx.AsyncClient, reader: Someone, size: int = 100) -> list[int]:
    return [int(t["id"]) for t in (await page(http, reader, size)).get("tweets", [])]


async def everything(http: httpx.AsyncClient, reader: Someone, size: int) -> list[list[int]]:
    """Every page of the reader's home timeline, as ids."""
    pages: list[list[int]] = []
    token = ""
    while True:
        body = await page(http, reader, size, token)
        pages.append([int(t["id"]) for t in body.get("tweets", [])])
        token = body.get("nextPageToken", "")
        if not token:
            return pages


async def eventually(
    check: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = WAIT_SECONDS
) -> tuple[T, float]:
    """Polls ``check`` until ``done``; returns its last value and the seconds it took."""
    start = time.monotonic()
    while True:
        value = await check()
        if done(value):
            return value, time.monotonic() - start
        assert time.monotonic() - start < seconds, f"still {value!r} after {seconds}s"
        await asyncio.sleep(0.02)


async def stored(redis: Redis, user_id: int) -> list[int] | None:
    """The ids in a user's timeline key, newest first; None when there is no key."""
    members = await redis.zrevrangebylex(home_key(user_id), "+", "-")
    if not members:
        return None
    return [int(m) for m in members if int(m) != int(SENTINEL)]


async def celebrity(http: httpx.AsyncClient, account: Account) -> list[Anonymous]:
    """Gives an account more followers than the threshold (anonymous ones)."""
    fans = [anonymous() for _ in range(THRESHOLD + 1)]
    await asyncio.gather(*(follow(http, fan, account.username) for fan in fans))
    return fans
