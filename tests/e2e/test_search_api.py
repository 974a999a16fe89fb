"""Search and trends through Envoy on 127.0.0.1:8080, against the running search service (its
Tantivy index on disk, fed from JetStream) and the real tweets, users and graph services.
Every test uses words of its own (a random marker), so the shared index's other documents
never match."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import grpc
import httpx
import pytest

from devstack.components import REPLICAS
from tests.integration.graph.support import register
from tests.integration.search.support import JsonObject, found, post, search
from tests.integration.tweets.tokens import bearer, random_user_id
from tests.polling import eventually

T = TypeVar("T")


def marker() -> str:
    return f"m{uuid.uuid4().hex[:10]}"


async def everywhere(check: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Polls ``check`` until ``done`` holds for the same answer several times in a row: each
    search process keeps an index of its own, fed from the stream at its own pace, and the
    gateway spreads searches over them (the cluster shape runs two)."""

    async def agreed() -> T | None:
        answers = [await check() for _ in range(2 * REPLICAS)]
        return answers[0] if all(answer == answers[0] for answer in answers) else None

    answer = await eventually(agreed, lambda found: found is not None and done(found))
    assert answer is not None
    return answer


async def indexed(http: httpx.AsyncClient, q: str, count: int, order: str = "") -> list[int]:
    """Waits until ``q`` finds ``count`` tweets in every search process."""
    return await everywhere(lambda: found(http, q, order), lambda ids: len(ids) == count)


def _bad_request(response: httpx.Response, field: str, rule: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    (detail,) = body["details"]
    (violation,) = detail["fieldViolations"]
    assert violation["field"] == field
    assert rule in violation["description"]


@pytest.mark.parametrize(
    ("q", "rule"),
    [
        ("", "is required"),
        ('"unbalanced phrase', "unbalanced double quote"),
        ("-only -exclusions", "not excluded"),
        ("word since:2026-02-30", "not a calendar date"),
        ("word until:tomorrow", "YYYY-MM-DD"),
        ("x" * 513, "at most 512"),
        ("from:not-a-name", "username"),
    ],
)
async def test_bad_queries_are_400_naming_q_and_the_rule(
    http: httpx.AsyncClient, q: str, rule: str
) -> None:
    _bad_request(await http.get("/v1/search/tweets", params={"q": q}), "q", rule)


async def test_bad_orders_sizes_and_tokens_are_400(http: httpx.AsyncClient) -> None:
    tweets = "/v1/search/tweets"
    _bad_request(await http.get(tweets, params={"q": "a", "order": "best"}), "order", "latest")
    _bad_request(await http.get(tweets, params={"q": "a", "pageSize": -1}), "page_size", "neg")
    _bad_request(await http.get(tweets, params={"q": "a", "pageToken": "!!"}), "page_token", "")
    _bad_request(await http.get("/v1/search/users", params={"q": "@"}), "q", "is required")
    _bad_request(await http.get("/v1/search/users", params={"q": "a" * 101}), "q", "at most 100")
    _bad_request(await http.get("/v1/trends", params={"pageSize": -5}), "page_size", "neg")


async def test_a_new_tweet_is_found_by_every_kind_of_part(http: httpx.AsyncClient) -> None:
    word = marker()
    author = await register(http, "s")
    mentioned = await register(http, "m")
    text = f"Running {word} with @{mentioned.username} #Tag{word} https://example.com/{word}"
    response = await http.post("/v1/tweets", json={"text": text}, headers=author.headers)
    assert response.status_code == 200, response.text
    tweet_id = int(response.json()["id"])
    other = await post(http, random_user_id(), f"{word} walking elsewhere")

    assert await indexed(http, word, 2) == [other, tweet_id]
    assert await found(http, f"{word} runs") == [tweet_id]  # stemmed and lowercased
    body = await search(http, f"{word} runs")
    (hit,) = body["tweets"]
    assert hit["text"] == text  # hydrated from the tweets service
    assert hit["author"]["username"] == author.username
    assert await found(http, f"#tag{word}") == [tweet_id]
    assert await found(http, f"@{mentioned.username} {word}") == [tweet_id]
    assert await found(http, f"from:{author.username.upper()}") == [tweet_id]
    assert await found(http, f'"running {word}"') == [tweet_id]
    assert await found(http, f'"{word} running"') == []
    assert await found(http, f"{word} -running") == [other]
    assert await found(http, f'{word} -"walking elsewhere"') == [tweet_id]
    assert await found(http, f"https://example.com/{word}") == [tweet_id]
    assert await found(http, f"{word} since:2020-01-01") == [other, tweet_id]
    assert await found(http, f"{word} until:2020-01-01") == []


async def test_an_edit_is_found_by_its_new_words_and_a_delete_leaves_the_index(
    http: httpx.AsyncClient,
) -> None:
    old, new = marker(), marker()
    author = random_user_id()
    tweet_id = await post(http, author, f"first draft {old}")
    await indexed(http, old, 1)
    edited = await http.patch(
        f"/v1/tweets/{tweet_id}", json={"text": f"second draft {new}"}, headers=bearer(author)
    )
    assert edited.status_code == 200, edited.text
    assert await indexed(http, new, 1) == [tweet_id]
    assert await found(http, old) == []
    deleted = await http.delete(f"/v1/tweets/{tweet_id}", headers=bearer(author))
    assert deleted.status_code == 200, deleted.text
    await indexed(http, new, 0)


async def test_latest_pages_with_tokens_and_retweets_are_not_results(
    http: httpx.AsyncClient,
) -> None:
    word = marker()
    ids = [await post(http, random_user_id(), f"{word} number {i}") for i in range(5)]
    retweet = await http.post(f"/v1/tweets/{ids[0]}:retweet", json={}, headers=bearer(7))
    assert retweet.status_code == 200, retweet.text
    await indexed(http, word, 5)
    pages: list[list[int]] = []
    token = ""
    while True:
        body: JsonObject = await search(http, word, size=2, token=token)
        pages.append([int(t["id"]) for t in body["tweets"]])
        token = body.get("nextPageToken", "")
        if not token:
            break
    assert pages == [ids[::-1][:2], ids[::-1][2:4], ids[::-1][4:]]
    _bad_request(
        await http.get(
            "/v1/search/tweets", params={"q": word, "order": "top", "pageToken": token or "x"}
        ),
        "page_token",
        "",
    )


async def test_top_puts_engaged_tweets_first(http: httpx.AsyncClient) -> None:
    word = marker()
    plain = await post(http, random_user_id(), f"{word} plain")
    liked = await post(http, random_user_id(), f"{word} liked")
    newest = await post(http, random_user_id(), f"{word} newest")
    for _ in range(3):
        fan = random_user_id()
        response = await http.post(f"/v1/tweets/{liked}:like", json={}, headers=bearer(fan))
        assert response.status_code == 200, response.text
    await indexed(http, word, 3)
    assert await found(http, word) == [newest, liked, plain]  # latest
    top = await everywhere(
        lambda: found(http, word, "top"), lambda ids: bool(ids) and ids[0] == liked
    )
    assert top == [liked, newest, plain]  # equal relevance: then newer first


async def test_users_by_prefix_exact_handle_first_then_by_followers(
    http: httpx.AsyncClient,
) -> None:
    stem = f"u{uuid.uuid4().hex[:8]}"
    exact = await register_named(http, stem, "Quiet One")
    popular = await register_named(http, f"{stem}pop", "Popular")
    middle = await register_named(http, f"{stem}mid", "Middle")
    for count, account in ((3, popular), (1, middle)):
        for _ in range(count):
            fan = random_user_id()
            response = await http.post(f"/v1/users/{account}:follow", json={}, headers=bearer(fan))
            assert response.status_code == 200, response.text

    async def usernames() -> list[str]:
        response = await http.get("/v1/search/users", params={"q": f"@{stem}"})
        assert response.status_code == 200, response.text
        return [u["username"] for u in response.json().get("users", [])]

    assert await everywhere(usernames, lambda names: names == [exact, popular, middle])
    first = await http.get("/v1/search/users", params={"q": stem.upper(), "pageSize": 2})
    body = first.json()
    assert [u["username"] for u in body["users"]] == [exact, popular]
    second = await http.get(
        "/v1/search/users", params={"q": stem.upper(), "pageToken": body["nextPageToken"]}
    )
    assert [u["username"] for u in second.json()["users"]] == [middle]
    named = await http.get("/v1/search/users", params={"q": f"{stem[:6]} popu"})
    assert [u["username"] for u in named.json()["users"]] == [popular]


async def test_a_new_display_name_is_found_and_the_old_one_is_not(
    http: httpx.AsyncClient,
) -> None:
    account = await register(http, "n")
    old, new = f"Old{uuid.uuid4().hex[:6]}", f"New{uuid.uuid4().hex[:6]}"

    async def named(name: str) -> list[str]:
        response = await http.get("/v1/search/users", params={"q": name[:8]})
        assert response.status_code == 200, response.text
        return [u["username"] for u in response.json().get("users", [])]

    for name in (old, new):
        response = await http.patch(
            "/v1/users/me?updateMask=displayName", json={"displayName": name},
            headers=account.headers,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        await everywhere(partial(named, name), lambda found: found == [account.username])
    assert await everywhere(partial(named, old), lambda found: found == []) == []


async def register_named(http: httpx.AsyncClient, username: str, display_name: str) -> str:
    response = await http.post(
        "/v1/users",
        json={
            "username": username,
            "password": "correct horse battery",
            "displayName": display_name,
        },
    )
    assert response.status_code == 200, response.text
    return username


async def test_a_tag_of_many_accounts_trends_and_one_noisy_account_does_not(
    http: httpx.AsyncClient,
) -> None:
    popular, noisy = f"pop{uuid.uuid4().hex[:8]}", f"noise{uuid.uuid4().hex[:8]}"
    await asyncio.gather(*(post(http, random_user_id(), f"wow #{popular}") for _ in range(7)))
    spammer = random_user_id()
    for i in range(30):
        await post(http, spammer, f"#{noisy} again {i}")

    async def trends() -> list[JsonObject]:
        """Every page (the shared stack has other trends too)."""
        listed: list[JsonObject] = []
        token = ""
        while True:
            params: dict[str, str | int] = {"pageSize": 100, "pageToken": token}
            response = await http.get("/v1/trends", params=params)
            assert response.status_code == 200, response.text
            listed += response.json().get("trends", [])
            token = response.json().get("nextPageToken", "")
            if not token:
                return listed

    def counted(listed: list[JsonObject]) -> bool:
        """The tag trends with all seven authors counted (a recompute may come between the
        sixth and the seventh: trends are eventually exact)."""
        return any(t["name"] == f"#{popular}" and t["authorCount"] == "7" for t in listed)

    listed = await eventually(trends, counted)
    trend = next(t for t in listed if t["name"] == f"#{popular}")
    assert trend["kind"] == "TREND_KIND_HASHTAG"
    assert trend["query"] == f"#{popular}"
    assert (trend["authorCount"], trend["tweetCount"]) == ("7", "7")
    # The noisy tag was posted first, so it was counted by then: one author does not trend.
    assert all(t["name"] != f"#{noisy}" for t in listed)
