"""Leaving Chirp, through the gateway: an account's archive (``GET /v1/users/me/export``) holds
everything it put in, and its deletion (``DELETE /v1/users/me``) takes all of it out, from every
API, from search and timelines, and from the stores themselves, while others' counts are
corrected.

Against the whole running stack: every service and its consumers, Cassandra, Neo4j, Redis,
Tantivy, SeaweedFS, NATS, Envoy.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from cassandra.cluster import Session

from services.graph.adapters.cache import ERASED, counts_key
from services.platform import graph_db
from services.platform.caches.user_cache import user_key
from tests import redis_py
from tests.e2e.edge import PASSWORD, error, ok, register
from tests.integration.graph.support import SETTINGS as GRAPH_SETTINGS
from tests.integration.graph.support import Account
from tests.integration.media.photos import still
from tests.polling import polled

JsonObject = dict[str, Any]
#: How long a deletion may take to reach every service (the stated time is far less: the
#: consumers' grace of a few seconds, then a step per tweet, like and follow).
ERASED_WITHIN_SECONDS = 60.0


@dataclass(frozen=True)
class Scene:
    """Ada, who leaves; Bob and Cy, who stay; and what they did with each other."""

    ada: Account
    bob: Account
    cy: Account
    word: str
    photo: JsonObject
    ada_tweet: JsonObject
    ada_reply: JsonObject
    ada_retweet: JsonObject
    bob_retweet: JsonObject
    bob_tweet: JsonObject
    cy_tweet: JsonObject


def _post(client: httpx.Client, account: Account, text: str, **fields: Any) -> JsonObject:
    return ok(client.post("/v1/tweets", json={"text": text, **fields}, headers=account.headers))


def _count(tweet: JsonObject, field: str) -> int:
    return int(tweet.get(field, "0"))


@pytest.fixture(scope="module")
def scene(client: httpx.Client) -> Scene:
    ada, bob, cy = register(client, "ada"), register(client, "bob"), register(client, "cy")
    word = f"leaving{uuid.uuid4().hex[:10]}"
    bob_tweet = _post(client, bob, "bob was here")
    cy_tweet = _post(client, cy, "cy was here")
    ok(client.post(f"/v1/users/{cy.username}:follow", json={}, headers=ada.headers))
    ok(client.post(f"/v1/users/{ada.username}:follow", json={}, headers=bob.headers))
    photo = ok(
        client.post(
            "/v1/media",
            content=still("JPEG"),
            headers={**ada.headers, "content-type": "image/jpeg"},
        )
    )
    ada_tweet = _post(client, ada, f"first draft {word}", mediaIds=[photo["id"]])
    ada_tweet = ok(
        client.patch(
            f"/v1/tweets/{ada_tweet['id']}",
            json={"text": f"#farewell {word}"},
            headers=ada.headers,
        )
    )
    ada_reply = _post(client, ada, f"replying {word}", replyToId=bob_tweet["id"])
    ada_retweet = ok(
        client.post(f"/v1/tweets/{cy_tweet['id']}:retweet", json={}, headers=ada.headers)
    )
    ok(client.post(f"/v1/tweets/{bob_tweet['id']}:like", json={}, headers=ada.headers))
    ok(client.post(f"/v1/tweets/{ada_tweet['id']}:like", json={}, headers=bob.headers))
    bob_retweet = ok(
        client.post(f"/v1/tweets/{ada_tweet['id']}:retweet", json={}, headers=bob.headers)
    )
    return Scene(
        ada, bob, cy, word, photo, ada_tweet, ada_reply, ada_retweet, bob_retweet, bob_tweet,
        cy_tweet,
    )  # fmt: skip


def _search(client: httpx.Client, query: str) -> list[JsonObject]:
    tweets: list[JsonObject] = ok(client.get("/v1/search/tweets", params={"q": query})).get(
        "tweets", []
    )
    return tweets


def _home_ids(client: httpx.Client, reader: Account) -> set[str]:
    page = ok(client.get("/v1/timelines/home", headers=reader.headers, params={"pageSize": 100}))
    return {tweet["id"] for tweet in page.get("tweets", [])}


def test_the_archive_holds_everything_the_account_put_in(
    client: httpx.Client, scene: Scene
) -> None:
    response = client.get("/v1/users/me/export", headers=scene.ada.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    account = json.loads(archive.read("account.json"))
    assert (account["id"], account["username"]) == (str(scene.ada.id), scene.ada.username)
    tweets = json.loads(archive.read("tweets.json"))
    assert [tweet["id"] for tweet in tweets] == [
        scene.ada_retweet["id"], scene.ada_reply["id"], scene.ada_tweet["id"],
    ]  # fmt: skip
    edited = tweets[2]
    assert edited["text"] == f"#farewell {scene.word}"
    assert [version["text"] for version in edited["versions"]] == [f"first draft {scene.word}"]
    assert tweets[0]["retweetOf"]["id"] == scene.cy_tweet["id"]
    assert [tweet["id"] for tweet in json.loads(archive.read("likes.json"))] == [
        scene.bob_tweet["id"]
    ]
    assert [user["username"] for user in json.loads(archive.read("following.json"))] == [
        scene.cy.username
    ]
    assert [user["username"] for user in json.loads(archive.read("followers.json"))] == [
        scene.bob.username
    ]
    served = client.get(scene.photo["url"].removeprefix("http://localhost:8080"))
    assert archive.read(f"media/{scene.photo['id']}.jpg") == served.content
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["counts"]["tweets.json"] == len(tweets)
    assert {entry["path"] for entry in manifest["files"]} == set(archive.namelist()) - {
        "manifest.json"
    }


def test_an_archive_needs_a_token(client: httpx.Client) -> None:
    error(client.get("/v1/users/me/export"), 401, grpc.StatusCode.UNAUTHENTICATED)


def test_deletion_needs_the_password_again(client: httpx.Client) -> None:
    account = register(client, "keep")
    path = "/v1/users/me"
    message = error(
        client.request("DELETE", path, json={"password": "not it"}, headers=account.headers),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "password" in message
    error(
        client.request("DELETE", path, json={}, headers=account.headers),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    anonymous = client.request("DELETE", path, json={"password": PASSWORD})
    error(anonymous, 401, grpc.StatusCode.UNAUTHENTICATED)
    ok(client.get(path, headers=account.headers))  # still there


@pytest.fixture(scope="module")
def deleted(client: httpx.Client, scene: Scene) -> Scene:
    """The scene, once Ada's followers, search and Bob's timeline had seen her, and she left."""
    polled(lambda: _search(client, scene.word), lambda hits: len(hits) == 2, "indexed")
    polled(
        lambda: _home_ids(client, scene.bob),
        lambda ids: scene.ada_reply["id"] in ids,
        "fanned out",
    )
    response = client.request(
        "DELETE", "/v1/users/me", json={"password": PASSWORD}, headers=scene.ada.headers
    )
    assert response.status_code == 200, response.text
    return scene


def _status(client: httpx.Client, path: str, account: Account | None = None) -> int:
    return client.get(path, headers=account.headers if account else {}).status_code


def _ids(client: httpx.Client, path: str, field: str = "tweets") -> list[str]:
    return [item["id"] for item in ok(client.get(path)).get(field, [])]


def _gone(what: str, read: Callable[[], Any], done: Callable[[Any], bool]) -> None:
    polled(read, done, what, seconds=ERASED_WITHIN_SECONDS)


def test_the_account_and_its_sessions_end_at_once(client: httpx.Client, deleted: Scene) -> None:
    ada = deleted.ada
    _gone("sessions", lambda: _status(client, "/v1/users/me", ada), {401}.__contains__)
    assert client.get(f"/v1/users/{ada.username}").status_code == 404
    again = client.post("/v1/users", json={"username": ada.username.upper(), "password": PASSWORD})
    error(again, 409, grpc.StatusCode.ALREADY_EXISTS)  # the name is quarantined


def test_nothing_of_the_person_is_readable_through_any_api(
    client: httpx.Client, deleted: Scene
) -> None:
    ada, bob, cy = deleted.ada, deleted.bob, deleted.cy
    tweets = (deleted.ada_tweet, deleted.ada_reply, deleted.ada_retweet, deleted.bob_retweet)
    paths = [f"/v1/tweets/{tweet['id']}" for tweet in tweets]
    _gone("the tweets", lambda: {_status(client, path) for path in paths}, {404}.__eq__)
    _gone("search", lambda: _search(client, deleted.word), lambda hits: hits == [])
    _gone("from:", lambda: _search(client, f"from:{ada.username}"), lambda hits: hits == [])
    users = f"/v1/search/users?q={ada.username}"
    _gone("user search", lambda: _ids(client, users, "users"), lambda ids: ids == [])
    hers = {deleted.ada_tweet["id"], deleted.ada_reply["id"], deleted.ada_retweet["id"]}
    _gone("bob's home timeline", lambda: _home_ids(client, bob), lambda ids: not ids & hers)
    photo = deleted.photo["url"].removeprefix("http://localhost:8080")
    _gone("the photo", lambda: _status(client, photo), {404}.__contains__)
    likes = f"/v1/users/{bob.username}/likes"
    _gone("bob's likes", lambda: _ids(client, likes), lambda ids: ids == [])
    bobs = f"/v1/users/{bob.username}/tweets"
    _gone("bob's retweet", lambda: _ids(client, bobs), lambda ids: ids == [deleted.bob_tweet["id"]])
    followers = f"/v1/users/{cy.username}/followers"
    _gone("cy's followers", lambda: _ids(client, followers, "users"), lambda ids: ids == [])


def test_counts_on_others_are_corrected(client: httpx.Client, deleted: Scene) -> None:
    def counts(path: str, *fields: str) -> tuple[int, ...]:
        found = ok(client.get(path))
        return tuple(_count(found, field) for field in fields)

    bob_tweet = f"/v1/tweets/{deleted.bob_tweet['id']}"
    _gone("bob's tweet", lambda: counts(bob_tweet, "likeCount", "replyCount"), (0, 0).__eq__)
    cy_tweet = f"/v1/tweets/{deleted.cy_tweet['id']}"
    _gone("cy's tweet", lambda: counts(cy_tweet, "retweetCount"), (0,).__eq__)
    cy, bob = f"/v1/users/{deleted.cy.username}", f"/v1/users/{deleted.bob.username}"
    _gone("cy's follower count", lambda: counts(cy, "followerCount"), (0,).__eq__)
    bobs = ("followingCount", "tweetCount")
    _gone("bob's following and tweet counts", lambda: counts(bob, *bobs), (0, 1).__eq__)


def test_no_store_holds_the_persons_rows(deleted: Scene, session: Session) -> None:
    # Each service erases its part on its own (the last steps: the graph node after its edges,
    # the tweets' buckets after the tweets, the caches after the rows).
    _gone("the person's rows", lambda: _left_in_stores(deleted, session), lambda left: not left)


def _left_in_stores(deleted: Scene, session: Session) -> dict[str, Any]:
    """What the stores still hold of the deleted account, by where it is."""
    ada = deleted.ada.id
    tweets = [deleted.ada_tweet, deleted.ada_reply, deleted.ada_retweet]
    rows = {
        query % key: list(session.execute(query, (key,)))
        for query, key in (
            ("SELECT id FROM users WHERE id = %s", ada),
            *(("SELECT id, text FROM tweets WHERE id = %s", int(t["id"])) for t in tweets),
            *(
                ("SELECT version FROM tweet_versions WHERE tweet_id = %s", int(t["id"]))
                for t in tweets
            ),
            ("SELECT tweet_id FROM user_likes WHERE user_id = %s", ada),
            ("SELECT bucket FROM user_tweet_buckets WHERE user_id = %s", ada),
            ("SELECT id FROM media_items WHERE id = %s", int(deleted.photo["id"])),
        )
    }
    redis = redis_py.sync_client()
    keys = sorted(key.decode() for key in redis.scan_iter(match=f"*{ada}*", count=1000))
    # The tombstones hold nothing of the person, only what keeps stale fills out: the summary's
    # version, the follow counts' mark.
    if redis.hkeys(user_key(ada)) == [b"version"]:
        keys.remove(user_key(ada))
    if redis.get(counts_key(ada)) == ERASED:
        keys.remove(counts_key(ada))
    left: dict[str, Any] = {where: found for where, found in rows.items() if found}
    if nodes := _graph_nodes(ada):
        left["neo4j"] = nodes
    if keys:
        left["redis"] = keys
    return left


def _graph_nodes(user_id: int) -> list[Any]:
    with graph_db.driver(GRAPH_SETTINGS) as driver:
        records, _, _ = driver.execute_query("MATCH (u:User {id: $id}) RETURN u", id=user_id)
    return list(records)
