"""The graph HTTP surface through Envoy on 127.0.0.1:8080, against the real services and stores.

Accounts that are followed are registered through the gateway (follows name users by handle);
followers that need no handle are tokens minted for ids no account has, shown by id alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import httpx

from services.platform.paging import encode_token
from tests.integration.graph.support import register
from tests.integration.tweets.tokens import bearer, random_user_id

JsonObject = dict[str, Any]


async def _follow(
    http: httpx.AsyncClient, headers: dict[str, str], username: str, verb: str = "follow"
) -> JsonObject:
    response = await http.post(f"/v1/users/{username}:{verb}", json={}, headers=headers)
    assert response.status_code == 200, response.text
    body: JsonObject = response.json()
    return body


def _error(response: httpx.Response, status: int, code: grpc.StatusCode, field: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code.value[0]
    assert body["message"]
    if field:
        (detail,) = body["details"]
        assert [v["field"] for v in detail["fieldViolations"]] == [field]


async def test_follow_rules_and_their_errors(http: httpx.AsyncClient) -> None:
    ada = await register(http, "ga")
    bob = await register(http, "gb")
    for verb in ("follow", "unfollow"):
        _error(
            await http.post(f"/v1/users/{bob.username}:{verb}", json={}),
            401,
            grpc.StatusCode.UNAUTHENTICATED,
        )
        _error(
            await http.post(
                f"/v1/users/nobody_{ada.username}:{verb}", json={}, headers=ada.headers
            ),
            404,
            grpc.StatusCode.NOT_FOUND,
        )
    _error(
        await http.post(f"/v1/users/{ada.username}:follow", json={}, headers=ada.headers),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "username",
    )
    _error(await http.get("/v1/users/me/suggestions"), 401, grpc.StatusCode.UNAUTHENTICATED)

    # Read (and so cached) before the follows: they must show at the next read all the same.
    profile = (await http.get(f"/v1/users/{bob.username}", headers=ada.headers)).json()
    assert (profile["followerCount"], profile["followingCount"]) == ("0", "0")
    assert (profile["callerFollows"], profile["followsCaller"]) == (False, False)

    first = await _follow(http, ada.headers, bob.username.upper())
    assert first == {
        "sourceUserId": str(ada.id),
        "targetUserId": str(bob.id),
        "following": True,
        "followedBy": False,
    }
    assert await _follow(http, ada.headers, bob.username) == first  # idempotent
    back = await _follow(http, bob.headers, ada.username)
    assert back["followedBy"] is True

    profile = (await http.get(f"/v1/users/{bob.username}", headers=ada.headers)).json()
    assert (profile["followerCount"], profile["followingCount"]) == ("1", "1")
    assert (profile["callerFollows"], profile["followsCaller"]) == (True, True)

    gone = await _follow(http, ada.headers, bob.username, "unfollow")
    assert (gone["following"], gone["followedBy"]) == (False, True)
    assert await _follow(http, ada.headers, bob.username, "unfollow") == gone
    profile = (await http.get(f"/v1/users/{bob.username}")).json()
    assert (profile["followerCount"], profile["followingCount"]) == ("0", "1")


async def test_lists_are_hydrated_and_refuse_bad_requests(http: httpx.AsyncClient) -> None:
    star = await register(http, "gs")
    fan = await register(http, "gf")
    stranger = random_user_id()
    await _follow(http, fan.headers, star.username)
    await _follow(http, bearer(stranger), star.username)

    followers = (await http.get(f"/v1/users/{star.username}/followers")).json()
    assert [u["id"] for u in followers["users"]] == [str(stranger), str(fan.id)]
    assert followers["users"][1]["username"] == fan.username  # BASIC summary
    assert followers["users"][0].get("username", "") == ""  # no account: id alone
    assert followers.get("nextPageToken", "") == ""
    following = (await http.get(f"/v1/users/{fan.username}/following")).json()
    assert [u["username"] for u in following["users"]] == [star.username]

    for kind in ("followers", "following"):
        _error(
            await http.get(f"/v1/users/nobody_{star.username}/{kind}"),
            404,
            grpc.StatusCode.NOT_FOUND,
        )
        _error(
            await http.get(f"/v1/users/{star.username}/{kind}", params={"pageSize": -1}),
            400,
            grpc.StatusCode.INVALID_ARGUMENT,
            "page_size",
        )
        _error(
            await http.get(
                f"/v1/users/{star.username}/{kind}",
                params={"pageToken": encode_token(kind, fan.id, [1, 2])},
            ),
            400,
            grpc.StatusCode.INVALID_ARGUMENT,
            "page_token",
        )


async def test_follower_pages_neither_repeat_nor_skip_while_follows_arrive(
    http: httpx.AsyncClient,
) -> None:
    star = await register(http, "gp")
    before = [random_user_id() for _ in range(45)]
    await asyncio.gather(*(_follow(http, bearer(fan), star.username) for fan in before))

    async def arrive() -> None:
        for _ in range(30):
            await _follow(http, bearer(random_user_id()), star.username)

    seen: list[str] = []

    async def page_through() -> None:
        token = ""
        while True:
            response = await http.get(
                f"/v1/users/{star.username}/followers", params={"pageSize": 6, "pageToken": token}
            )
            assert response.status_code == 200, response.text
            page = response.json()
            seen.extend(user["id"] for user in page["users"])
            token = page.get("nextPageToken", "")
            if not token:
                return

    await asyncio.gather(arrive(), page_through())
    assert len(seen) == len(set(seen))
    assert {str(fan) for fan in before} <= set(seen)

    profile = (await http.get(f"/v1/users/{star.username}")).json()
    assert profile["followerCount"] == "75"


async def test_who_to_follow(http: httpx.AsyncClient) -> None:
    me, friend1, friend2, liked_by_both, liked_by_one, followed = await asyncio.gather(
        *(register(http, "gw") for _ in range(6))
    )
    for friend in (friend1, friend2, followed):
        await _follow(http, me.headers, friend.username)
    for friend in (friend1, friend2):
        await _follow(http, friend.headers, liked_by_both.username)
        await _follow(http, friend.headers, me.username)  # never suggested to oneself
    await _follow(http, friend1.headers, liked_by_one.username)
    await _follow(http, friend1.headers, followed.username)  # followed already

    response = await http.get(
        "/v1/users/me/suggestions", headers=me.headers, params={"pageSize": 2}
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert [u["username"] for u in page["users"]] == [
        liked_by_both.username,
        liked_by_one.username,
    ]
    following = {friend1.id, friend2.id, followed.id, me.id}
    token = page.get("nextPageToken", "")
    while token:  # the rest: the most followed accounts, still without me and my followees
        more = await http.get(
            "/v1/users/me/suggestions", headers=me.headers, params={"pageToken": token}
        )
        assert more.status_code == 200, more.text
        assert not following & {int(u["id"]) for u in more.json()["users"]}
        token = more.json().get("nextPageToken", "")

    newcomer = await register(http, "gz")
    fresh = (await http.get("/v1/users/me/suggestions", headers=newcomer.headers)).json()
    assert fresh["users"]  # the most followed accounts
    assert str(newcomer.id) not in [u["id"] for u in fresh["users"]]
    _error(
        await http.get(
            "/v1/users/me/suggestions", headers=newcomer.headers, params={"pageSize": -5}
        ),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    )
