"""The Mastodon client API through Envoy, as existing apps use it: Mastodon.py (the library,
unchanged, pinned as a test dependency) and the raw HTTP a client sends for what it does."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonNotFoundError
from PIL import Image

from services.mastodon.service import TOKEN_CACHE_SECONDS
from services.platform.healthcheck import HEALTH_PATH
from services.platform.settings import HTTP_PORTS
from tests.stack import GATEWAY, direct_get

PASSWORD = "correct horse battery"  # noqa: S105  (a test account's)
OOB = "urn:ietf:wg:oauth:2.0:oob"


@dataclass(frozen=True)
class App:
    client_id: str
    client_secret: str


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=GATEWAY, timeout=15) as http:
        yield http


def _register(client: httpx.Client, display_name: str = "") -> str:
    username = "md" + uuid.uuid4().hex[:12]
    created = client.post(
        "/v1/users",
        json={"username": username, "password": PASSWORD, "displayName": display_name},
    )
    assert created.status_code == 200, created.text
    return username


def _app(client: httpx.Client, scopes: str = "read write follow") -> App:
    answer = client.post(
        "/api/v1/apps", data={"client_name": "tests", "redirect_uris": OOB, "scopes": scopes}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return App(body["client_id"], body["client_secret"])


def _password_token(client: httpx.Client, app: App, username: str, scope: str) -> str:
    answer = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "username": username,
            "password": PASSWORD,
            "scope": scope,
        },
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def _app_token(client: httpx.Client, app: App, scope: str) -> str:
    """The app's own token (``client_credentials``): it acts as no account."""
    answer = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "scope": scope,
        },
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def mastodon(client: httpx.Client) -> Mastodon:
    """Mastodon.py logged in as a new account, as a script would do it."""
    username = _register(client, "Ada Lovelace")
    client_id, client_secret = Mastodon.create_app(
        "chirp-tests", api_base_url=GATEWAY, scopes=["read", "write", "follow"]
    )
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=GATEWAY)
    api.log_in(username, PASSWORD, scopes=["read", "write", "follow"], allow_http=True)
    return api


def test_mastodon_py_posts_reads_likes_boosts_and_deletes(mastodon: Mastodon) -> None:
    me = mastodon.account_verify_credentials()
    assert me.display_name == "Ada Lovelace"
    assert mastodon.instance().version.startswith("4.2.0")
    posted = mastodon.status_post("Hello from Mastodon.py #chirp https://example.com/a")
    assert posted.account.id == me.id
    assert posted.tags[0].name == "chirp"
    assert '<a href="https://example.com/a"' in posted.content
    assert [s.id for s in mastodon.timeline_home(limit=5)][:1] == [posted.id]
    favourited = mastodon.status_favourite(posted.id)
    assert (favourited.favourites_count, favourited.favourited) == (1, True)
    assert mastodon.status(posted.id).favourited  # the caller's own mark, read back
    boost = mastodon.status_reblog(posted.id)
    assert (boost.reblog.id, boost.account.id) == (posted.id, me.id)
    assert mastodon.status(posted.id).reblogged
    assert [a.id for a in mastodon.status_reblogged_by(posted.id)] == [me.id]
    unboosted = mastodon.status_unreblog(posted.id)
    assert (unboosted.reblogs_count, unboosted.reblogged) == (0, False)
    assert not mastodon.status_unfavourite(posted.id).favourited
    assert mastodon.account_lookup(me.username).id == me.id
    assert [s.id for s in mastodon.account_statuses(me.id)] == [posted.id]
    deleted = mastodon.status_delete(posted.id)
    assert deleted.text == "Hello from Mastodon.py #chirp https://example.com/a"
    with pytest.raises(MastodonNotFoundError):
        mastodon.status(posted.id)


def test_mastodon_py_follows_and_sees_the_followed_post(
    client: httpx.Client, mastodon: Mastodon
) -> None:
    author = _register(client)
    token = _password_token(client, _app(client), author, "read write")
    posted = client.post("/api/v1/statuses", headers=_bearer(token), data={"status": "news"})
    assert posted.status_code == 200, posted.text
    target = mastodon.account_lookup(author)
    relationship = mastodon.account_follow(target.id)
    assert (relationship.id, relationship.following) == (target.id, True)
    assert mastodon.account_relationships([target.id])[0].following
    home = [s.id for s in mastodon.timeline_home(limit=10)]
    assert posted.json()["id"] in home  # the followee's timeline merged in on follow
    assert not mastodon.account_unfollow(target.id).following


def test_pages_link_to_older_and_newer_and_stop_when_empty(client: httpx.Client) -> None:
    username = _register(client)
    token = _password_token(client, _app(client), username, "read write")
    ids = [
        client.post("/api/v1/statuses", headers=_bearer(token), data={"status": f"n{i}"}).json()[
            "id"
        ]
        for i in range(3)
    ]
    first = client.get("/api/v1/timelines/home?limit=2", headers=_bearer(token))
    assert [s["id"] for s in first.json()] == [ids[2], ids[1]]
    older = re.match(r'<([^>]+)>; rel="next"', first.headers["link"])
    assert older is not None
    second = client.get(older.group(1).removeprefix(GATEWAY), headers=_bearer(token))
    assert [s["id"] for s in second.json()] == [ids[0]]
    newer = client.get(f"/api/v1/timelines/home?min_id={ids[0]}", headers=_bearer(token))
    assert [s["id"] for s in newer.json()] == [ids[2], ids[1]]
    since = client.get(f"/api/v1/timelines/home?since_id={ids[0]}&limit=1", headers=_bearer(token))
    assert [s["id"] for s in since.json()] == [ids[2]]  # the newest above it
    empty = client.get(f"/api/v1/timelines/home?max_id={ids[0]}", headers=_bearer(token))
    assert (empty.json(), "link" in empty.headers) == ([], False)


def test_the_authorization_code_flow_with_pkce(client: httpx.Client) -> None:
    """What toot's `login` and the web clients do: the app opens /oauth/authorize, the person
    signs in there, the app exchanges the code (a public client proves it with PKCE)."""
    username = _register(client)
    app = _app(client)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    asked = {
        "client_id": app.client_id,
        "redirect_uri": OOB,
        "response_type": "code",
        "scope": "read",
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    page = client.get("/oauth/authorize/", params=asked)
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    refused = client.post("/oauth/authorize", data={**asked, "username": username, "password": "x"})
    assert refused.status_code == 401
    shown = client.post(
        "/oauth/authorize", data={**asked, "username": username, "password": PASSWORD}
    )
    code = re.search(r'<pre id="code">([^<]+)</pre>', shown.text)
    assert code is not None, shown.text
    exchange = {
        "grant_type": "authorization_code",
        "client_id": app.client_id,
        "code": code.group(1),
        "redirect_uri": OOB,
    }
    wrong = client.post("/oauth/token", data={**exchange, "code_verifier": "not it"})
    assert wrong.json()["error"] == "invalid_grant"
    code = re.search(
        r'<pre id="code">([^<]+)</pre>',
        client.post(
            "/oauth/authorize", data={**asked, "username": username, "password": PASSWORD}
        ).text,
    )
    assert code is not None
    token = client.post(
        "/oauth/token", data={**exchange, "code": code.group(1), "code_verifier": verifier}
    )
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "read"
    me = client.get(
        "/api/v1/accounts/verify_credentials", headers=_bearer(token.json()["access_token"])
    )
    assert me.json()["username"] == username


def test_scopes_tokens_and_revocation_are_enforced(client: httpx.Client) -> None:
    username = _register(client)
    app = _app(client)
    reader = _password_token(client, app, username, "read")
    post = client.post("/api/v1/statuses", headers=_bearer(reader), data={"status": "hi"})
    assert (post.status_code, post.json()) == (
        403,
        {"error": "This action is outside the authorized scopes"},
    )
    anonymous = client.get("/api/v1/accounts/verify_credentials")
    assert (anonymous.status_code, anonymous.json()) == (
        401,
        {"error": "The access token is invalid"},
    )
    app_only = _app_token(client, app, "")
    needs_user = client.get("/api/v1/timelines/home", headers=_bearer(app_only))
    assert needs_user.status_code == 422
    assert (
        client.get("/api/v1/apps/verify_credentials", headers=_bearer(app_only)).json()["name"]
        == "tests"
    )
    revoked = client.post(
        "/oauth/revoke",
        data={"client_id": app.client_id, "client_secret": app.client_secret, "token": reader},
    )
    assert revoked.status_code == 200
    # Refused at once by the process that revoked it, by every other within the time a process
    # trusts a token it looked up (the cluster shape runs two).
    deadline = time.monotonic() + TOKEN_CACHE_SECONDS + 5
    while (
        gone := client.get("/api/v1/accounts/verify_credentials", headers=_bearer(reader))
    ).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert gone.status_code == 401


def test_chirp_refusals_come_back_in_mastodons_words(client: httpx.Client) -> None:
    username = _register(client)
    token = _password_token(client, _app(client), username, "read write")
    too_long = client.post("/api/v1/statuses", headers=_bearer(token), data={"status": "x" * 281})
    assert too_long.status_code == 422
    assert too_long.json()["error"].startswith("Validation failed: text:")
    blank = client.post("/api/v1/statuses", headers=_bearer(token), data={"status": " "})
    assert blank.json() == {"error": "Validation failed: Text can't be blank"}
    assert client.get("/api/v1/statuses/1").json() == {"error": "Record not found"}
    assert client.get("/api/v1/accounts/not-an-id").status_code == 404
    wrong = client.post(
        "/oauth/token",
        data={"grant_type": "password", "client_id": "nobody", "username": username},
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")


def test_the_instance_and_its_discovery_documents(client: httpx.Client) -> None:
    v1 = client.get("/api/v1/instance/").json()  # as Mastodon.py asks, with the slash
    assert (v1["uri"], v1["configuration"]["statuses"]["max_characters"]) == (
        "localhost:8080",
        280,
    )
    v2 = client.get("/api/v2/instance").json()
    assert v2["domain"] == "localhost:8080"
    assert "api_versions" not in v2  # web clients would switch to endpoints Chirp lacks
    links = client.get("/.well-known/nodeinfo").json()["links"]
    assert (
        client.get(links[0]["href"].removeprefix("http://localhost:8080")).json()["software"][
            "name"
        ]
        == "chirp"
    )
    oauth = client.get("/.well-known/oauth-authorization-server").json()
    assert {"password", "authorization_code", "client_credentials"} <= set(
        oauth["grant_types_supported"]
    )


def _jpeg(width: int = 32, height: int = 24) -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(picture, "JPEG")
    return picture.getvalue()


def test_mastodon_py_posts_a_photo_edits_and_reads_the_history(mastodon: Mastodon) -> None:
    photo = mastodon.media_post(_jpeg(), mime_type="image/jpeg", description="a square")
    assert (photo.type, photo.description, photo.meta.original.width) == ("image", "a square", 32)
    assert re.fullmatch(r"http://localhost:8080/v1/media/[0-9]+/content", photo.url)
    posted = mastodon.status_post("look at this", media_ids=[photo.id])
    assert [m.id for m in posted.media_attachments] == [photo.id]
    edited = mastodon.status_update(posted.id, "look at this, edited")
    assert edited.edited_at is not None
    history = mastodon.status_history(posted.id)
    assert [h.content for h in history] == ["<p>look at this</p>", "<p>look at this, edited</p>"]
    assert mastodon.status_source(posted.id).text == "look at this, edited"


def test_threads_likers_follow_lists_and_favourites(
    client: httpx.Client, mastodon: Mastodon
) -> None:
    me = mastodon.account_verify_credentials()
    root = mastodon.status_post("a thread")
    reply = mastodon.status_post("its reply", in_reply_to_id=root.id)
    deeper = mastodon.status_post("deeper", in_reply_to_id=reply.id)
    context = mastodon.status_context(reply.id)
    assert ([s.id for s in context.ancestors], [s.id for s in context.descendants]) == (
        [root.id],
        [deeper.id],
    )
    mastodon.status_favourite(root.id)
    assert [a.id for a in mastodon.status_favourited_by(root.id)] == [me.id]
    assert [s.id for s in mastodon.favourites()] == [root.id]
    other = _register(client)
    target = mastodon.account_lookup(other)
    mastodon.account_follow(target.id)
    assert [a.id for a in mastodon.account_following(me.id)] == [target.id]
    assert [a.id for a in mastodon.account_followers(target.id)] == [me.id]


def test_mastodon_py_pages_with_fetch_next(mastodon: Mastodon) -> None:
    posted = [mastodon.status_post(f"page {i}").id for i in range(5)]
    first = mastodon.timeline_home(limit=2)
    pages = [[s.id for s in first]]
    following = mastodon.fetch_next(first)
    while following:
        pages.append([s.id for s in following])
        following = mastodon.fetch_next(following)
    assert pages[:3] == [posted[4:2:-1], posted[2:0:-1], posted[0:1]]
    assert [
        s.id for s in mastodon.account_statuses(mastodon.me().id, limit=2, max_id=posted[2])
    ] == [
        posted[1],
        posted[0],
    ]


def test_search_trends_suggestions_and_the_empty_start_up_calls(
    client: httpx.Client, mastodon: Mastodon
) -> None:
    me = mastodon.account_verify_credentials()
    word = "zq" + uuid.uuid4().hex[:10]
    posted = mastodon.status_post(f"searching for {word} #{word}")
    found = None
    for _ in range(50):  # the index commits about every half second
        found = mastodon.search_v2(word, result_type="statuses")
        if found.statuses:
            break
        time.sleep(0.2)
    assert found is not None
    assert [s.id for s in found.statuses] == [posted.id]
    people = mastodon.search_v2(me.username, result_type="accounts")
    assert me.id in [a.id for a in people.accounts]
    assert [t.name for t in mastodon.search_v2(f"#{word}").hashtags] == [word]
    suggested = mastodon.suggestions()
    assert suggested  # someone to follow for an account that follows nobody: the most followed
    assert all(
        account.id != me.id for account in suggested
    )  # accounts, as Mastodon.py unwraps them
    assert mastodon.notifications() == []
    assert mastodon.custom_emojis() == []
    assert client.get("/api/v1/markers", headers=_bearer_of(mastodon)).json() == {}


def test_an_app_registers_an_account_and_gets_its_token(client: httpx.Client) -> None:
    app = _app(client, "read write")
    app_token = _app_token(client, app, "read write")
    username = "mr" + uuid.uuid4().hex[:12]
    made = client.post(
        "/api/v1/accounts",
        headers=_bearer(app_token),
        data={"username": username, "email": "x@example.com", "password": PASSWORD,
              "agreement": "true", "locale": "en"},
    )  # fmt: skip
    assert made.status_code == 200, made.text
    me = client.get(
        "/api/v1/accounts/verify_credentials", headers=_bearer(made.json()["access_token"])
    )
    assert me.json()["username"] == username
    taken = client.post(
        "/api/v1/accounts",
        headers=_bearer(app_token),
        data={"username": username, "password": PASSWORD},
    )
    assert taken.status_code == 422


def _bearer_of(mastodon: Mastodon) -> dict[str, str]:
    return _bearer(str(mastodon.access_token))


def test_the_public_timeline_shows_everyones_new_posts(client: httpx.Client) -> None:
    username = _register(client)
    token = _password_token(client, _app(client), username, "read write")
    posted = client.post("/api/v1/statuses", headers=_bearer(token), data={"status": "to all"})
    wanted = posted.json()["id"]
    public: list[str] = []
    for _ in range(50):  # public once searchable: within about a second
        public = [s["id"] for s in client.get("/api/v1/timelines/public?limit=40").json()]
        if wanted in public:
            break
        time.sleep(0.2)
    assert wanted in public
    older = client.get(f"/api/v1/timelines/public?max_id={wanted}&limit=5").json()
    assert all(int(s["id"]) < int(wanted) for s in older)
    assert client.get("/api/v1/timelines/public?remote=true").json() == []  # no other servers


def test_the_user_stream_sends_new_posts_and_deletes_as_events(client: httpx.Client) -> None:
    username = _register(client)
    token = _password_token(client, _app(client), username, "read write")
    with client.stream(
        "GET", "/api/v1/streaming/user", headers=_bearer(token), timeout=15
    ) as stream:
        events = _events(stream.iter_lines())
        posted = client.post("/api/v1/statuses", headers=_bearer(token), data={"status": "live"})
        status_id = posted.json()["id"]
        event, payload = next(events)
        assert (event, json.loads(payload)["id"]) == ("update", status_id)
        client.delete(f"/api/v1/statuses/{status_id}", headers=_bearer(token))
        assert next(events) == ("delete", status_id)


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Server-sent events as (name, data), once the stream said it is open (read here, at
    once: what is posted after this call reaches the stream)."""
    assert next(lines).startswith(":")

    def parsed() -> Iterator[tuple[str, str]]:
        event = ""
        for line in lines:
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                yield event, line.removeprefix("data: ")

    return parsed()


async def test_a_websocket_carries_the_public_stream(
    client: httpx.Client, http: httpx.AsyncClient
) -> None:
    """A post made once the socket is open arrives on it (the test posts until one does: the
    socket says nothing when its stream starts, so the first may precede it)."""
    username = _register(client)
    token = _password_token(client, _app(client), username, "read write")
    url = GATEWAY.replace("http", "ws") + "/api/v1/streaming?stream=public"
    posted: set[str] = set()
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        for _ in range(5):
            answer = await http.post(
                "/api/v1/statuses", headers=_bearer(token), data={"status": "out"}
            )
            posted.add(answer.json()["id"])
            try:
                async with asyncio.timeout(3):
                    while True:
                        message = await socket.receive_json()
                        assert (message["stream"], message["event"]) == (["public"], "update")
                        if json.loads(message["payload"])["id"] in posted:
                            return
            except TimeoutError:
                continue
    pytest.fail("no post reached the public stream")


def test_the_profile_name_and_note_change_and_what_chirp_lacks_is_refused(
    mastodon: Mastodon,
) -> None:
    updated = mastodon.account_update_credentials(display_name="Ada L.", note="Counting <engines>")
    assert (updated.display_name, updated.source.note) == ("Ada L.", "Counting <engines>")
    assert updated.note == "<p>Counting &lt;engines&gt;</p>"
    assert mastodon.account(updated.id).display_name == "Ada L."
    with pytest.raises(MastodonAPIError, match="no bot"):
        mastodon.account_update_credentials(bot=True)


def test_mastodon_py_logs_in_with_an_authorization_code(client: httpx.Client) -> None:
    """The browser flow as Mastodon.py drives it: the URL it makes, the sign-in page's form
    (as a person submits it), and the code it exchanges."""
    username = _register(client)
    client_id, client_secret = Mastodon.create_app(
        "chirp-tests", api_base_url=GATEWAY, scopes=["read", "write"], redirect_uris=OOB
    )
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=GATEWAY)
    url = api.auth_request_url(redirect_uris=OOB, scopes=["read", "write"], allow_http=True)
    asked = dict(httpx.URL(url).params)
    assert client.get(url.removeprefix(GATEWAY)).status_code == 200  # the sign-in page
    shown = client.post(
        "/oauth/authorize", data={**asked, "username": username, "password": PASSWORD}
    )
    code = re.search(r'<pre id="code">([^<]+)</pre>', shown.text)
    assert code is not None, shown.text
    api.log_in(code=code.group(1), redirect_uri=OOB, scopes=["read", "write"], allow_http=True)
    assert api.account_verify_credentials().username == username


def test_every_answer_tells_the_callers_rate_limit(client: httpx.Client) -> None:
    """In Mastodon's headers, the reset a time (which Mastodon.py parses as one), counted per
    token: a new token starts its own window."""
    token = _app_token(client, _app(client), "read")
    first, second = (
        client.get("/api/v1/apps/verify_credentials", headers=_bearer(token)) for _ in range(2)
    )
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == (
        "300",
        "299",
    )
    assert second.headers["x-ratelimit-remaining"] == "298"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", second.headers["x-ratelimit-reset"]
    )


def test_health_checks_are_neither_counted_nor_refused() -> None:
    """Envoy checks each Mastodon process every second, straight from loopback: were those
    requests counted, they would use up the address's 300 per 5 minutes and the checks (and
    every loopback caller) would be refused."""
    port = HTTP_PORTS["mastodon"]
    for _ in range(3):
        health = direct_get(port, HEALTH_PATH)
        assert health.status_code == 200, health.text
        assert "x-ratelimit-limit" not in health.headers


def test_a_hashtag_many_people_start_using_trends(client: httpx.Client, mastodon: Mastodon) -> None:
    """Through the Mastodon API as through Chirp's: a new tag used by six people trends within
    seconds (the local stack recomputes trends every second)."""
    tag = "tr" + uuid.uuid4().hex[:10]
    app = _app(client, "read write")
    for _ in range(6):
        token = _password_token(client, app, _register(client), "read write")
        posted = client.post(
            "/api/v1/statuses", headers=_bearer(token), data={"status": f"look #{tag}"}
        )
        assert posted.status_code == 200, posted.text
    trending: list[str] = []
    for _ in range(75):
        trending = [t.name for t in mastodon.trending_tags(limit=20)]
        if tag in trending:
            break
        time.sleep(0.2)
    assert tag in trending
    assert [t.name for t in mastodon.search_v2(f"#{tag}").hashtags] == [tag]


def test_mastodon_py_pages_an_account_timeline_with_fetch_next(mastodon: Mastodon) -> None:
    posted = [mastodon.status_post(f"mine {i}").id for i in range(3)]
    page = mastodon.account_statuses(mastodon.me().id, limit=2)
    seen = [s.id for s in page]
    while page := mastodon.fetch_next(page):
        seen += [s.id for s in page]
    assert seen == posted[::-1]


def _mp4(target: Path, size: str, seconds: int, *, loops: int = 0) -> bytes:
    """An H.264/AAC MP4 of ffmpeg's test pattern, made in a fraction of a second: ``seconds``
    encoded, then played ``loops`` more times by copying (a longer video that takes its
    transcode seconds)."""
    quiet = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    part = target.with_suffix(".part.mp4")
    subprocess.run(
        [*quiet, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         str(part)],
        check=True, timeout=60,
    )  # fmt: skip
    subprocess.run(
        [*quiet, "-stream_loop", str(loops), "-i", str(part), "-c", "copy", str(target)],
        check=True,
        timeout=60,
    )
    return target.read_bytes()


def test_mastodon_py_posts_a_video_once_it_is_processed(mastodon: Mastodon, tmp_path: Path) -> None:
    sent = _mp4(tmp_path / "clip.mp4", "320x180", 2)
    video = mastodon.media_post(sent, mime_type="video/mp4", description="a test card")
    assert (video.type, video.url, video.description) == ("video", None, "a test card")
    deadline = time.monotonic() + 60
    while video.url is None:  # as Mastodon.py's own synchronous=True does, but faster
        assert time.monotonic() < deadline, "the video was never processed"
        time.sleep(0.2)
        video = mastodon.media(video.id)
    assert video.type == "video"
    assert re.fullmatch(r"http://localhost:8080/v1/media/[0-9]+/content", video.url)
    assert video.preview_url == f"{video.url}?thumbnail=true"
    assert (video.meta.original.width, video.meta.original.height) == (320, 180)
    assert abs(video.meta.original.duration - 2.0) <= 0.1
    posted = mastodon.status_post("a video", media_ids=[video.id])
    [attachment] = posted.media_attachments
    assert (attachment.id, attachment.url) == (video.id, video.url)
    assert attachment.type == "video"
    assert abs(attachment.meta.original.duration - 2.0) <= 0.1
    assert mastodon.status(posted.id).media_attachments[0].type == "video"


def test_a_video_upload_is_202_then_206_until_processed_then_200(
    client: httpx.Client, tmp_path: Path
) -> None:
    """What a client sends: the upload on /api/v2/media, then GET /api/v1/media/:id until it
    answers 200. The video takes seconds of transcoding (1080p, 8 s), so it is processing for
    the requests right after its upload."""
    username = _register(client)
    token = _password_token(client, _app(client), username, "read write")
    sent = _mp4(tmp_path / "clip.mp4", "1920x1080", 1, loops=7)
    posted = client.post(
        "/api/v2/media",
        headers=_bearer(token),
        files={"file": ("clip.mp4", sent, "video/mp4")},
        data={"description": "colour bars"},
    )
    assert posted.status_code == 202, posted.text
    accepted = posted.json()
    assert (accepted["type"], accepted["url"], accepted["preview_url"]) == ("video", None, None)
    assert accepted["description"] == "colour bars"
    assert abs(accepted["meta"]["original"]["duration"] - 8.0) <= 0.25
    media = f"/api/v1/media/{accepted['id']}"
    processing = client.get(media, headers=_bearer(token))
    assert processing.status_code == 206, processing.text
    assert processing.json()["url"] is None
    early = client.post(
        "/api/v1/statuses",
        headers=_bearer(token),
        data={"status": "too soon", "media_ids[]": accepted["id"]},
    )
    assert early.status_code == 422, early.text
    assert "processing" in early.json()["error"]

    deadline = time.monotonic() + 60
    while (answer := client.get(media, headers=_bearer(token))).status_code == 206:
        assert time.monotonic() < deadline, "the video was never processed"
        time.sleep(0.2)
    assert answer.status_code == 200, answer.text
    ready = answer.json()
    assert ready["url"] == f"http://localhost:8080/v1/media/{accepted['id']}/content"
    assert ready["preview_url"] == f"{ready['url']}?thumbnail=true"
    original = ready["meta"]["original"]
    assert (original["width"], original["height"]) == (1280, 720)  # the rendition's
    assert abs(original["duration"] - 8.0) <= 0.25
    served = client.get(ready["url"].removeprefix("http://localhost:8080"))
    assert (served.status_code, served.headers["content-type"]) == (200, "video/mp4")

    status = client.post(
        "/api/v1/statuses",
        headers=_bearer(token),
        data={"status": "now it plays", "media_ids[]": accepted["id"]},
    )
    assert status.status_code == 200, status.text
    [attachment] = status.json()["media_attachments"]
    assert (attachment["id"], attachment["url"]) == (accepted["id"], ready["url"])
    assert attachment["type"] == "video"
    assert abs(attachment["meta"]["original"]["duration"] - 8.0) <= 0.25
