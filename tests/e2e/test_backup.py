"""``make backup`` and ``make restore`` for real: a backup of the serving stack with data in every
store, ``.data`` wiped, the backup restored into the empty stack, and everything found again
through the gateway: accounts (their sessions too: the signing keys come back), tweets, follows,
likes, photos; home timelines rebuilt and search answering; and the restored stack takes new
posts to followers' timelines (its stream and consumers came back with it).

It stops and starts every component, so it runs with the chaos tests, after every other test.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devstack import backup, stack
from devstack.paths import DATA, PYTHON, ROOT, SHAPE
from tests.e2e.edge import PASSWORD, ok, register
from tests.integration.graph.support import Account
from tests.integration.media.photos import still
from tests.polling import polled

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(
        SHAPE != "single",
        reason="backups are of the single-node stack; a ring uses the stores' own tools (README)",
    ),
]
JsonObject = dict[str, Any]
#: What wiping ``.data`` keeps: the stack's logs and process records, and the local
#: certificate authority that clients already trust.
KEPT = frozenset({"logs", "run", "tls"})


@dataclass(frozen=True)
class Before:
    ada: Account
    bob: Account
    word: str
    tweet: JsonObject
    photo: JsonObject
    photo_bytes: bytes


def _devstack(*arguments: str) -> str:
    done = subprocess.run(
        [str(PYTHON), "-m", "devstack", *arguments],
        cwd=ROOT,
        env=stack.env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _home_ids(client: httpx.Client, reader: Account) -> list[str]:
    page = ok(client.get("/v1/timelines/home", headers=reader.headers))
    return [tweet["id"] for tweet in page.get("tweets", [])]


def _search(client: httpx.Client, word: str) -> list[str]:
    found = ok(client.get("/v1/search/tweets", params={"q": word}))
    return [tweet["id"] for tweet in found.get("tweets", [])]


@pytest.fixture(scope="module")
def before(client: httpx.Client) -> Before:
    ada, bob = register(client, "ada"), register(client, "bob")
    word = f"kept{uuid.uuid4().hex[:10]}"
    ok(client.post(f"/v1/users/{bob.username}:follow", json={}, headers=ada.headers))
    photo = ok(
        client.post(
            "/v1/media", content=still("PNG"), headers={**bob.headers, "content-type": "image/png"}
        )
    )
    tweet = ok(
        client.post(
            "/v1/tweets",
            json={"text": f"worth keeping {word}", "mediaIds": [photo["id"]]},
            headers=bob.headers,
        )
    )
    ok(client.post(f"/v1/tweets/{tweet['id']}:like", json={}, headers=ada.headers))
    polled(lambda: _search(client, word), [tweet["id"]].__eq__, "indexed")
    polled(lambda: _home_ids(client, ada), lambda ids: tweet["id"] in ids, "fanned out")
    served = client.get(photo["url"].removeprefix("http://localhost:8080"))
    assert served.status_code == 200
    return Before(ada, bob, word, tweet, photo, served.content)


@pytest.fixture(scope="module")
def restored(before: Before, tmp_path_factory: pytest.TempPathFactory) -> Before:
    """``before``, backed up while serving, ``.data`` wiped, and the backup restored."""
    backups = tmp_path_factory.mktemp("backups")
    _devstack("backup", "--into", str(backups))
    (folder,) = backups.iterdir()
    assert backup.verified(folder)["stores"]["neo4j"]["nodes"] >= 2
    _devstack("stop")
    for path in DATA.iterdir():
        if path.name not in KEPT:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    _devstack("restore", str(folder))
    return before


def test_accounts_and_their_sessions_are_back(client: httpx.Client, restored: Before) -> None:
    me = ok(client.get("/v1/users/me", headers=restored.ada.headers))  # a token from before
    assert me["username"] == restored.ada.username
    signed_in = {"username": restored.bob.username, "password": PASSWORD}
    assert ok(client.post("/v1/sessions", json=signed_in))["accessToken"]


def test_tweets_likes_follows_and_photos_are_back(client: httpx.Client, restored: Before) -> None:
    tweet = ok(client.get(f"/v1/tweets/{restored.tweet['id']}"))
    assert tweet["text"] == f"worth keeping {restored.word}"
    assert tweet["likeCount"] == "1"
    likes = ok(client.get(f"/v1/users/{restored.ada.username}/likes"))
    assert [liked["id"] for liked in likes["tweets"]] == [restored.tweet["id"]]
    followers = ok(client.get(f"/v1/users/{restored.bob.username}/followers"))
    assert [user["username"] for user in followers["users"]] == [restored.ada.username]
    photo = client.get(restored.photo["url"].removeprefix("http://localhost:8080"))
    assert photo.content == restored.photo_bytes


def test_home_timelines_are_rebuilt_and_search_answers(
    client: httpx.Client, restored: Before
) -> None:
    assert restored.tweet["id"] in _home_ids(client, restored.ada)
    polled(lambda: _search(client, restored.word), [restored.tweet["id"]].__eq__, "reindexed")


def test_the_restored_stack_delivers_new_posts(client: httpx.Client, restored: Before) -> None:
    fresh = ok(client.post("/v1/tweets", json={"text": "after"}, headers=restored.bob.headers))
    polled(lambda: _home_ids(client, restored.ada), lambda ids: fresh["id"] in ids, "delivered")
