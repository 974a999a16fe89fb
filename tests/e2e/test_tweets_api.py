"""The tweets HTTP surface through Envoy on 127.0.0.1:8080, against the real service and stores.

Accounts are tokens minted with the local stack's signing key (tests/integration/tweets/
tokens.py) for ids no account has, so these tests do not depend on the users service; tweets
then show their authors by id, and /v1/users/me/... stands in for a username.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cassandra.cluster import Session
from chirp.tweets.v1 import tweets_service_pb2, tweets_service_pb2_grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.platform.ids import compose, wall_clock_ms
from services.platform.paging import encode_token
from services.tweets.rules import MAX_EDITS
from tests.integration.tweets.tokens import bearer, mint, random_user_id
from tests.stack import GATEWAY, direct_channel

TWEETS = "127.0.0.1:50052"
JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Account:
    id: int

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.id)


def account() -> Account:
    return Account(random_user_id())


def post(client: httpx.Client, author: Account, text: str, **fields: Any) -> JsonObject:
    response = client.post("/v1/tweets", json={"text": text, **fields}, headers=author.headers)
    assert response.status_code == 200, response.text
    body: JsonObject = response.json()
    return body


def get(client: httpx.Client, path: str, **params: Any) -> JsonObject:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: JsonObject = response.json()
    return body


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> str:
    """Checks the HTTP status and JSON error body; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"]
    if field is not None:
        (detail,) = body["details"]
        assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
        assert field in [violation["field"] for violation in detail["fieldViolations"]]
    message: str = body["message"]
    return message


# Posting.


def test_a_post_returns_the_tweet_with_its_entities(client: httpx.Client) -> None:
    author = account()
    text = "Hello #Chirp and #日本 @nobody_here see https://example.com/a_(b). #2024"
    tweet = post(client, author, text)
    assert tweet["text"] == text
    assert tweet["author"]["id"] == str(author.id)
    assert int(tweet["id"]) > 0
    assert tweet["createTime"].endswith("Z")
    assert "editTime" not in tweet
    assert (tweet["likeCount"], tweet["retweetCount"], tweet["replyCount"]) == ("0", "0", "0")
    entities = tweet["entities"]
    assert [(h["tag"], h["start"], h["end"]) for h in entities["hashtags"]] == [
        ("Chirp", 6, 12),
        ("日本", 17, 20),
    ]
    assert entities["mentions"] == []  # no such user
    assert [u["url"] for u in entities["urls"]] == ["https://example.com/a_(b)"]
    assert get(client, f"/v1/tweets/{tweet['id']}") == tweet


def test_text_is_stored_nfc_normalized(client: httpx.Client) -> None:
    tweet = post(client, account(), "  Cafe\u0301  ")
    assert tweet["text"] == "Caf\u00e9"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   \n  "}, "text"),
        ({"text": "x" * 281}, "text"),
        ({"text": "tab\there"}, "text"),
        ({"text": "bell\x07"}, "text"),
        ({"text": "ok", "mediaIds": ["1", "2", "3", "4", "5"]}, "media_ids"),
        ({"text": "ok", "idempotencyKey": "k" * 65}, "idempotency_key"),
    ],
    ids=["empty", "blank", "281-chars", "tab", "control", "5-photos", "long-key"],
)
def test_bad_posts_are_400_naming_the_field(
    client: httpx.Client, body: JsonObject, field: str
) -> None:
    response = client.post("/v1/tweets", json=body, headers=account().headers)
    assert_error(response, 400, field)


def test_280_code_points_are_allowed_and_urls_count_23(client: httpx.Client) -> None:
    author = account()
    assert post(client, author, "é" * 280)["text"] == "é" * 280
    url = "https://example.com/" + "p" * 300
    long_link = post(client, author, "x" * 256 + " " + url)  # 256 + 1 + 23 = 280
    assert long_link["entities"]["urls"][0]["url"] == url
    response = client.post(
        "/v1/tweets", json={"text": "x" * 257 + " " + url}, headers=author.headers
    )
    assert "this one has 281" in assert_error(response, 400, "text")


def test_newlines_are_allowed(client: httpx.Client) -> None:
    assert post(client, account(), "line one\nline two")["text"] == "line one\nline two"


def test_media_ids_are_not_found_until_uploads_land(client: httpx.Client) -> None:
    response = client.post(
        "/v1/tweets", json={"text": "", "mediaIds": ["12345"]}, headers=account().headers
    )
    assert "12345" in assert_error(response, 404)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer forged.token.here"}, {"Authorization": "Basic abc"}],
    ids=["missing", "forged", "not-bearer"],
)
def test_writes_need_a_valid_token(client: httpx.Client, headers: dict[str, str]) -> None:
    assert_error(client.post("/v1/tweets", json={"text": "hi"}, headers=headers), 401)


def test_a_token_signed_by_another_key_is_refused(client: httpx.Client) -> None:
    forged = jwt.encode(
        {"sub": "1", "iss": "chirp", "iat": 0, "exp": 2**40},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
    )
    response = client.post(
        "/v1/tweets", json={"text": "hi"}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert_error(response, 401)
    expired = mint(1, ttl_seconds=-60)
    response = client.post(
        "/v1/tweets", json={"text": "hi"}, headers={"Authorization": f"Bearer {expired}"}
    )
    assert_error(response, 401)


def test_a_retried_post_with_an_idempotency_key_lands_once(client: httpx.Client) -> None:
    author = account()
    key = str(uuid.uuid4())
    first = post(client, author, "once", idempotencyKey=key)
    again = post(client, author, "once", idempotencyKey=key)
    assert again["id"] == first["id"]
    other = post(client, account(), "once", idempotencyKey=key)  # keys are per author
    assert other["id"] != first["id"]
    mine = client.get("/v1/users/me/tweets", headers=author.headers).json()
    assert [t["id"] for t in mine["tweets"]] == [first["id"]]


async def test_concurrent_retries_with_one_idempotency_key_land_once() -> None:
    author = account()
    key = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=15) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    "/v1/tweets",
                    json={"text": "concurrent", "idempotencyKey": key},
                    headers=author.headers,
                )
                for _ in range(10)
            )
        )
        assert [r.status_code for r in responses] == [200] * 10
        assert len({r.json()["id"] for r in responses}) == 1
        mine = (await http.get("/v1/users/me/tweets", headers=author.headers)).json()
    assert len(mine["tweets"]) == 1


# Reading.


def test_unknown_and_malformed_ids(client: httpx.Client) -> None:
    assert_error(client.get("/v1/tweets/1"), 404)
    assert_error(client.get("/v1/tweets/0"), 400, "id")
    assert_error(client.get("/v1/tweets/not-a-number"), 400)


@pytest.fixture(scope="module")
def tweets_stub() -> Iterator[tweets_service_pb2_grpc.TweetsServiceStub]:
    with direct_channel(TWEETS) as channel:
        yield tweets_service_pb2_grpc.TweetsServiceStub(channel)


def test_batch_get_answers_in_request_order_skipping_unknown_and_deleted(
    client: httpx.Client, tweets_stub: tweets_service_pb2_grpc.TweetsServiceStub
) -> None:
    author = account()
    first, second, gone = (post(client, author, f"batch {i}") for i in range(3))
    assert client.delete(f"/v1/tweets/{gone['id']}", headers=author.headers).status_code == 200
    ids = [int(second["id"]), 1, int(gone["id"]), int(first["id"]), int(second["id"])]
    response = tweets_stub.BatchGetTweets(tweets_service_pb2.BatchGetTweetsRequest(ids=ids))
    assert [t.id for t in response.tweets] == [int(second["id"]), int(first["id"])]
    assert response.tweets[0].text == "batch 1"
    with pytest.raises(grpc.RpcError) as refused:
        tweets_stub.BatchGetTweets(
            tweets_service_pb2.BatchGetTweetsRequest(ids=list(range(1, 102)))
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# Replies.


def test_replies_are_listed_under_their_parent_oldest_first(client: httpx.Client) -> None:
    parent = post(client, account(), "parent")
    replies = [post(client, account(), f"reply {i}", replyToId=parent["id"]) for i in range(5)]
    assert all(r["replyToId"] == parent["id"] for r in replies)
    assert get(client, f"/v1/tweets/{parent['id']}")["replyCount"] == "5"
    page = get(client, f"/v1/tweets/{parent['id']}/replies", pageSize=3)
    rest = get(
        client, f"/v1/tweets/{parent['id']}/replies", pageSize=3, pageToken=page["nextPageToken"]
    )
    assert [t["text"] for t in page["tweets"] + rest["tweets"]] == [f"reply {i}" for i in range(5)]
    assert rest["nextPageToken"] == ""


def test_a_reply_to_an_unknown_tweet_is_404(client: httpx.Client) -> None:
    response = client.post(
        "/v1/tweets", json={"text": "hi", "replyToId": "1"}, headers=account().headers
    )
    assert "reply" in assert_error(response, 404)


def test_deleting_a_reply_lowers_the_parents_reply_count(client: httpx.Client) -> None:
    parent = post(client, account(), "parent")
    replier = account()
    reply = post(client, replier, "soon gone", replyToId=parent["id"])
    assert client.delete(f"/v1/tweets/{reply['id']}", headers=replier.headers).status_code == 200
    assert get(client, f"/v1/tweets/{parent['id']}")["replyCount"] == "0"
    assert get(client, f"/v1/tweets/{parent['id']}/replies")["tweets"] == []


# Editing.


def test_only_the_author_edits_and_every_version_is_kept(client: httpx.Client) -> None:
    author = account()
    tweet = post(client, author, "version 1 #one")
    path = f"/v1/tweets/{tweet['id']}"
    assert_error(client.patch(path, json={"text": "mine now"}, headers=account().headers), 403)
    assert_error(client.patch(path, json={"text": "anon"}), 401)
    for number in (2, 3):
        edited = client.patch(
            path, json={"text": f"version {number} #v{number}"}, headers=author.headers
        )
        assert edited.status_code == 200, edited.text
    current = edited.json()
    assert current["text"] == "version 3 #v3"
    assert [h["tag"] for h in current["entities"]["hashtags"]] == ["v3"]
    assert current["editTime"] > current["createTime"]
    assert get(client, path) == current

    history = get(client, f"{path}/history")
    assert [(v["versionNumber"], v["text"]) for v in history["versions"]] == [
        (2, "version 2 #v2"),
        (1, "version 1 #one"),
    ]
    newest, oldest = history["versions"]
    assert oldest["createTime"] == tweet["createTime"]
    assert oldest["replaceTime"] == newest["createTime"]
    assert newest["replaceTime"] == current["editTime"]
    assert [h["tag"] for h in oldest["entities"]["hashtags"]] == ["one"]
    first_page = get(client, f"{path}/history", pageSize=1)
    second_page = get(client, f"{path}/history", pageSize=1, pageToken=first_page["nextPageToken"])
    assert [v["versionNumber"] for v in first_page["versions"] + second_page["versions"]] == [2, 1]
    assert second_page["nextPageToken"] == ""


def test_a_never_edited_tweet_has_an_empty_history(client: httpx.Client) -> None:
    tweet = post(client, account(), "pristine")
    assert get(client, f"/v1/tweets/{tweet['id']}/history") == {
        "versions": [],
        "nextPageToken": "",
    }


def test_edits_are_limited_to_five(client: httpx.Client) -> None:
    author = account()
    path = f"/v1/tweets/{post(client, author, 'edit me')['id']}"
    for number in range(MAX_EDITS):
        response = client.patch(path, json={"text": f"edit {number}"}, headers=author.headers)
        assert response.status_code == 200, response.text
    sixth = client.patch(path, json={"text": "one too many"}, headers=author.headers)
    assert "at most 5" in assert_error(sixth, 400)
    assert sixth.json()["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    # Repeating the current text is no edit at all.
    same = client.patch(path, json={"text": f"edit {MAX_EDITS - 1}"}, headers=author.headers)
    assert same.status_code == 200


def test_an_edit_after_an_hour_is_refused(client: httpx.Client, session: Session) -> None:
    author = account()
    two_hours_ago = wall_clock_ms() - 2 * 3600 * 1000
    old_id = compose(two_hours_ago, 1023, uuid.uuid4().int % 4096)
    session.execute(
        "INSERT INTO tweets (id, author_id, text, entities) VALUES (%s, %s, %s, %s)",
        (old_id, author.id, "posted long ago", "{}"),
    )
    response = client.patch(
        f"/v1/tweets/{old_id}", json={"text": "too late"}, headers=author.headers
    )
    assert "within 60 minutes" in assert_error(response, 400)
    assert get(client, f"/v1/tweets/{old_id}")["text"] == "posted long ago"


def test_an_edit_that_died_before_its_swap_leaves_no_trace(
    client: httpx.Client, session: Session
) -> None:
    author = account()
    tweet = post(client, author, "v1")
    path = f"/v1/tweets/{tweet['id']}"
    edited = client.patch(path, json={"text": "v2"}, headers=author.headers).json()
    # A crashed edit saved the current text as version 2 and never swapped its own text in.
    session.execute(
        "INSERT INTO tweet_versions (tweet_id, version, text, entities, create_time) "
        "VALUES (%s, 2, 'v2', '{}', %s)",
        (int(tweet["id"]), datetime.fromisoformat(edited["editTime"])),
    )
    assert [v["text"] for v in get(client, f"{path}/history")["versions"]] == ["v1"]
    client.patch(path, json={"text": "v3"}, headers=author.headers)
    history = get(client, f"{path}/history")["versions"]
    assert [(v["versionNumber"], v["text"]) for v in history] == [(2, "v2"), (1, "v1")]


def test_a_post_whose_first_request_died_is_finished_by_its_retry(
    client: httpx.Client, session: Session
) -> None:
    author = account()
    key = str(uuid.uuid4())
    reserved = compose(wall_clock_ms(), 1023, uuid.uuid4().int % 4096)
    # The first request claimed the key for its id, then died before writing the tweet.
    session.execute(
        "INSERT INTO idempotency_keys (author_id, idempotency_key, tweet_id) VALUES (%s, %s, %s)",
        (author.id, key, reserved),
    )
    retried = post(client, author, "finally", idempotencyKey=key)
    assert retried["id"] == str(reserved)
    assert post(client, author, "finally", idempotencyKey=key)["id"] == str(reserved)
    assert get(client, f"/v1/tweets/{reserved}")["text"] == "finally"


def test_bad_edits(client: httpx.Client) -> None:
    author = account()
    tweet = post(client, author, "original")
    path = f"/v1/tweets/{tweet['id']}"
    assert_error(client.patch(path, json={"text": ""}, headers=author.headers), 400, "tweet.text")
    assert_error(
        client.patch(f"{path}?updateMask=replyToId", json={"text": "x"}, headers=author.headers),
        400,
        "update_mask",
    )
    assert_error(client.patch("/v1/tweets/1", json={"text": "x"}, headers=author.headers), 404)
    retweet = client.post(f"{path}:retweet", json={}, headers=author.headers).json()
    response = client.patch(
        f"/v1/tweets/{retweet['id']}", json={"text": "x"}, headers=author.headers
    )
    assert "retweet" in assert_error(response, 400)
    ok = client.patch(f"{path}?updateMask=text", json={"text": "masked"}, headers=author.headers)
    assert ok.json()["text"] == "masked"


# Deleting.


def test_only_the_author_deletes_and_the_tweet_is_gone_at_once(client: httpx.Client) -> None:
    author = account()
    tweet = post(client, author, "delete me")
    path = f"/v1/tweets/{tweet['id']}"
    get(client, path)  # cached now
    assert_error(client.delete(path, headers=account().headers), 403)
    assert_error(client.delete(path), 401)
    assert client.delete(path, headers=author.headers).status_code == 200
    assert_error(client.get(path), 404)
    assert_error(client.delete(path, headers=author.headers), 404)
    assert_error(client.post(f"{path}:like", json={}, headers=account().headers), 404)
    assert_error(client.post(f"{path}:retweet", json={}, headers=account().headers), 404)
    mine = client.get("/v1/users/me/tweets", headers=author.headers).json()
    assert mine["tweets"] == []


def test_retweets_of_a_deleted_tweet_are_gone_with_it(
    client: httpx.Client, tweets_stub: tweets_service_pb2_grpc.TweetsServiceStub
) -> None:
    author, fan = account(), account()
    tweet = post(client, author, "soon retweeted, then deleted")
    retweet = client.post(f"/v1/tweets/{tweet['id']}:retweet", json={}, headers=fan.headers).json()
    get(client, f"/v1/tweets/{retweet['id']}")  # cached now
    assert client.delete(f"/v1/tweets/{tweet['id']}", headers=author.headers).status_code == 200
    assert_error(client.get(f"/v1/tweets/{retweet['id']}"), 404)
    batch = tweets_stub.BatchGetTweets(
        tweets_service_pb2.BatchGetTweetsRequest(ids=[int(retweet["id"])])
    )
    assert list(batch.tweets) == []
    assert client.get("/v1/users/me/tweets", headers=fan.headers).json()["tweets"] == []

    # The retweet itself is undone from the delete event: out of the fan's tweet count.
    def fan_count() -> int:
        response = tweets_stub.BatchGetUserTweetCounts(
            tweets_service_pb2.BatchGetUserTweetCountsRequest(user_ids=[fan.id])
        )
        return response.counts[0].tweet_count

    for _ in range(150):
        if fan_count() == 0:
            break
        time.sleep(0.1)
    assert fan_count() == 0


# Likes.


def test_likes_are_idempotent_and_listed(client: httpx.Client) -> None:
    author, fan, other = account(), account(), account()
    tweet = post(client, author, "like me")
    path = f"/v1/tweets/{tweet['id']}"
    liked = client.post(f"{path}:like", json={}, headers=fan.headers)
    assert liked.status_code == 200
    assert liked.json()["likeCount"] == "1"
    assert client.post(f"{path}:like", json={}, headers=fan.headers).json()["likeCount"] == "1"
    assert client.post(f"{path}:like", json={}, headers=other.headers).json()["likeCount"] == "2"
    likers = get(client, f"{path}/likes")
    assert [u["id"] for u in likers["users"]] == [str(other.id), str(fan.id)]  # newest first
    mine = client.get("/v1/users/me/likes", headers=fan.headers).json()
    assert [t["id"] for t in mine["tweets"]] == [tweet["id"]]

    assert client.post(f"{path}:unlike", json={}, headers=fan.headers).json()["likeCount"] == "1"
    assert client.post(f"{path}:unlike", json={}, headers=fan.headers).json()["likeCount"] == "1"
    assert [u["id"] for u in get(client, f"{path}/likes")["users"]] == [str(other.id)]
    assert client.get("/v1/users/me/likes", headers=fan.headers).json()["tweets"] == []
    # Liking a retweet likes the original.
    retweet = client.post(f"{path}:retweet", json={}, headers=other.headers).json()
    via = client.post(f"/v1/tweets/{retweet['id']}:like", json={}, headers=fan.headers).json()
    assert via["id"] == tweet["id"]
    assert via["likeCount"] == "2"
    assert_error(client.post(f"{path}:like", json={}), 401)
    assert_error(client.post("/v1/tweets/1:like", json={}, headers=fan.headers), 404)


def test_liked_tweets_skip_deleted_ones_and_page(client: httpx.Client) -> None:
    author, fan = account(), account()
    tweets = [post(client, author, f"liked {i}") for i in range(5)]
    for tweet in tweets:
        client.post(f"/v1/tweets/{tweet['id']}:like", json={}, headers=fan.headers)
    client.delete(f"/v1/tweets/{tweets[3]['id']}", headers=author.headers)
    first = client.get("/v1/users/me/likes", params={"pageSize": 2}, headers=fan.headers).json()
    rest = client.get(
        "/v1/users/me/likes",
        params={"pageSize": 10, "pageToken": first["nextPageToken"]},
        headers=fan.headers,
    ).json()
    shown = [t["text"] for t in first["tweets"] + rest["tweets"]]
    assert shown == ["liked 4", "liked 2", "liked 1", "liked 0"]
    assert rest["nextPageToken"] == ""


# Retweets.


def test_retweets_are_idempotent_tweets_pointing_at_the_original(client: httpx.Client) -> None:
    author, fan = account(), account()
    tweet = post(client, author, "retweet me")
    path = f"/v1/tweets/{tweet['id']}"
    retweet = client.post(f"{path}:retweet", json={}, headers=fan.headers).json()
    assert retweet["id"] != tweet["id"]
    assert retweet["author"]["id"] == str(fan.id)
    assert retweet["retweetOf"]["id"] == tweet["id"]
    assert retweet["retweetOf"]["retweetCount"] == "1"
    again = client.post(f"{path}:retweet", json={}, headers=fan.headers).json()
    assert again["id"] == retweet["id"]
    via = client.post(f"/v1/tweets/{retweet['id']}:retweet", json={}, headers=fan.headers).json()
    assert via["id"] == retweet["id"]  # retweeting a retweet retweets the original
    assert get(client, path)["retweetCount"] == "1"
    assert get(client, f"/v1/tweets/{retweet['id']}")["retweetOf"]["text"] == "retweet me"
    timeline = client.get("/v1/users/me/tweets", headers=fan.headers).json()
    assert [t["id"] for t in timeline["tweets"]] == [retweet["id"]]

    undone = client.post(f"{path}:unretweet", json={}, headers=fan.headers).json()
    assert undone["id"] == tweet["id"]
    assert undone["retweetCount"] == "0"
    assert (
        client.post(f"{path}:unretweet", json={}, headers=fan.headers).json()["id"] == tweet["id"]
    )
    assert_error(client.get(f"/v1/tweets/{retweet['id']}"), 404)
    assert client.get("/v1/users/me/tweets", headers=fan.headers).json()["tweets"] == []
    # A new retweet after an unretweet is a new tweet.
    anew = client.post(f"{path}:retweet", json={}, headers=fan.headers).json()
    assert anew["id"] != retweet["id"]
    assert anew["retweetOf"]["retweetCount"] == "1"


def test_deleting_a_retweet_is_unretweeting(client: httpx.Client) -> None:
    author, fan = account(), account()
    tweet = post(client, author, "original")
    retweet = client.post(f"/v1/tweets/{tweet['id']}:retweet", json={}, headers=fan.headers).json()
    assert_error(client.delete(f"/v1/tweets/{retweet['id']}", headers=author.headers), 403)
    assert client.delete(f"/v1/tweets/{retweet['id']}", headers=fan.headers).status_code == 200
    assert get(client, f"/v1/tweets/{tweet['id']}")["retweetCount"] == "0"
    assert_error(client.get(f"/v1/tweets/{retweet['id']}"), 404)


# User timelines.


def test_a_user_timeline_pages_newest_first_and_stays_stable(client: httpx.Client) -> None:
    author, other = account(), account()
    posted = [post(client, author, f"post {i}") for i in range(5)]
    foreign = post(client, other, "someone else's")
    retweet = client.post(
        f"/v1/tweets/{foreign['id']}:retweet", json={}, headers=author.headers
    ).json()
    expected = [retweet["id"], *(t["id"] for t in reversed(posted))]

    def page(token: str = "") -> JsonObject:
        response = client.get(
            "/v1/users/me/tweets",
            params={"pageSize": 2, "pageToken": token},
            headers=author.headers,
        )
        assert response.status_code == 200, response.text
        body: JsonObject = response.json()
        return body

    seen, token = [], ""
    first = page()
    seen += [t["id"] for t in first["tweets"]]
    post(client, author, "posted while paging")  # must not shift or repeat what follows
    token = first["nextPageToken"]
    while token:
        body = page(token)
        seen += [t["id"] for t in body["tweets"]]
        token = body["nextPageToken"]
    assert seen == expected
    assert first["tweets"][0]["retweetOf"]["text"] == "someone else's"


def test_timeline_and_list_errors(client: httpx.Client) -> None:
    assert_error(client.get("/v1/users/no_such_user_x/tweets"), 404)
    assert_error(client.get("/v1/users/me/tweets"), 401)
    author = account()
    assert_error(
        client.get("/v1/users/me/tweets", params={"pageSize": -1}, headers=author.headers),
        400,
        "page_size",
    )
    assert_error(
        client.get("/v1/users/me/tweets", params={"pageToken": "junk"}, headers=author.headers),
        400,
        "page_token",
    )
    tweet = post(client, author, "x")
    foreign_token = encode_token("replies", int(tweet["id"]) + 1, 1)  # another tweet's replies
    assert_error(
        client.get(f"/v1/tweets/{tweet['id']}/replies", params={"pageToken": foreign_token}),
        400,
        "page_token",
    )
    assert_error(client.get("/v1/tweets/1/replies"), 404)
    assert_error(client.get("/v1/tweets/1/likes"), 404)
    assert_error(client.get("/v1/tweets/1/history"), 404)


# With real accounts of the users service: authors, mentions and usernames resolve.


@dataclass(frozen=True)
class Registered:
    id: str
    username: str
    headers: dict[str, str]


def register(client: httpx.Client) -> Registered:
    username = "tw" + uuid.uuid4().hex[:12]
    password = "correct horse battery"  # noqa: S105  (a test account's)
    created = client.post(
        "/v1/users", json={"username": username, "password": password, "displayName": "Tester"}
    )
    assert created.status_code == 200, created.text
    session = client.post("/v1/sessions", json={"username": username, "password": password})
    assert session.status_code == 200, session.text
    token = session.json()["accessToken"]
    return Registered(created.json()["id"], username, {"Authorization": f"Bearer {token}"})


def test_tweets_carry_their_authors_summary(client: httpx.Client) -> None:
    ada = register(client)
    response = client.post("/v1/tweets", json={"text": "hello"}, headers=ada.headers)
    author = response.json()["author"]
    assert (author["id"], author["username"], author["displayName"]) == (
        ada.id,
        ada.username,
        "Tester",
    )
    assert get(client, f"/v1/tweets/{response.json()['id']}")["author"] == author


def test_mentions_resolve_to_existing_users_case_insensitively(client: httpx.Client) -> None:
    ada, bob = register(client), register(client)
    text = f"hi @{bob.username.upper()} and @nobody_{uuid.uuid4().hex[:6]}"
    tweet = client.post("/v1/tweets", json={"text": text}, headers=ada.headers).json()
    assert tweet["entities"]["mentions"] == [
        {"start": 3, "end": 4 + len(bob.username), "username": bob.username, "userId": bob.id}
    ]
    edited = client.patch(
        f"/v1/tweets/{tweet['id']}", json={"text": "no one now"}, headers=ada.headers
    ).json()
    assert edited["entities"]["mentions"] == []


def test_user_timelines_and_likes_by_username(client: httpx.Client) -> None:
    ada, bob = register(client), register(client)
    first = client.post("/v1/tweets", json={"text": "first"}, headers=ada.headers).json()
    theirs = client.post("/v1/tweets", json={"text": "bob's"}, headers=bob.headers).json()
    retweet = client.post(f"/v1/tweets/{theirs['id']}:retweet", json={}, headers=ada.headers).json()
    client.post(f"/v1/tweets/{theirs['id']}:like", json={}, headers=ada.headers)
    timeline = get(client, f"/v1/users/{ada.username.upper()}/tweets")
    assert [t["id"] for t in timeline["tweets"]] == [retweet["id"], first["id"]]
    assert timeline["tweets"][0]["retweetOf"]["author"]["username"] == bob.username
    likes = get(client, f"/v1/users/{ada.username}/likes")
    assert [t["id"] for t in likes["tweets"]] == [theirs["id"]]
    assert get(client, f"/v1/users/{ada.username}")["tweetCount"] == "2"
    deleted = client.delete(f"/v1/tweets/{first['id']}", headers=ada.headers)
    assert deleted.status_code == 200, deleted.text
    assert get(client, f"/v1/users/{ada.username}")["tweetCount"] == "1"
    likers = get(client, f"/v1/tweets/{theirs['id']}/likes")
    assert [(u["id"], u["username"]) for u in likers["users"]] == [(ada.id, ada.username)]
