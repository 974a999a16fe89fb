"""Photos through Envoy on 127.0.0.1:8080: uploads, serving, attaching to tweets, cleanup
(videos: test_video_api.py).

Against the real media and tweets services, Cassandra and SeaweedFS. Accounts are tokens minted
with the local stack's signing key (tests/integration/tweets/tokens.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import grpc
import httpx
import pytest
from chirp.media.v1 import media_service_pb2, media_service_pb2_grpc

from services.platform.channels import service_channel
from services.platform.settings import MutualTlsSettings, Settings
from tests.integration.media.photos import GPS_IFD, animated, jpeg_with_gps, opened, still
from tests.integration.tweets.tokens import bearer, random_user_id

MEDIA = "127.0.0.1:50056"
MAX_BYTES = Settings(service="media").media.max_upload_bytes
MAX_VIDEO_BYTES = Settings(service="media").media.max_video_bytes
CACHE_CONTROL = "public, max-age=31536000, immutable"
JsonObject = dict[str, Any]


def upload(
    client: httpx.Client, owner: int, data: bytes, content_type: str = "image/jpeg"
) -> JsonObject:
    response = client.post(
        "/v1/media", content=data, headers={**bearer(owner), "content-type": content_type}
    )
    assert response.status_code == 200, response.text
    body: JsonObject = response.json()
    return body


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["message"]
    return message


def path_of(url: str) -> str:
    assert url.startswith("http://localhost:8080/"), url
    return url.removeprefix("http://localhost:8080")


def test_an_upload_is_served_without_its_gps_position(client: httpx.Client) -> None:
    owner = random_user_id()
    sent = jpeg_with_gps((800, 600), rotated=True)
    assert opened(sent).getexif().get_ifd(GPS_IFD)
    media = upload(client, owner, sent)
    assert media["contentType"] == "image/jpeg"
    assert (media["width"], media["height"]) == (600, 800)  # the orientation applied
    assert media["ownerId"] == str(owner)
    assert media["tweetId"] == "0"
    assert media["url"] == f"http://localhost:8080/v1/media/{media['id']}/content"

    served = client.get(path_of(media["url"]))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == CACHE_CONTROL
    assert served.headers["etag"] == f'"{hashlib.sha256(served.content).hexdigest()}"'
    assert int(media["sizeBytes"]) == len(served.content)
    image = opened(served.content)
    assert image.size == (600, 800)
    assert not image.getexif().get_ifd(GPS_IFD)
    assert dict(image.getexif()) == {}

    thumbnail = client.get(path_of(media["thumbnailUrl"]))
    assert thumbnail.status_code == 200
    assert thumbnail.headers["cache-control"] == CACHE_CONTROL
    assert thumbnail.headers["etag"] != served.headers["etag"]
    assert opened(thumbnail.content).size == (300, 400)

    assert client.get(f"/v1/media/{media['id']}").json() == media


def test_a_conditional_get_with_the_etag_is_304(client: httpx.Client) -> None:
    media = upload(client, random_user_id(), still("PNG"), "image/png")
    etag = client.get(path_of(media["url"])).headers["etag"]
    for asked in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        response = client.get(path_of(media["url"]), headers={"if-none-match": asked})
        assert response.status_code == 304, asked
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == CACHE_CONTROL
    changed = client.get(path_of(media["url"]), headers={"if-none-match": '"other"'})
    assert changed.status_code == 200
    assert changed.headers["etag"] == etag


@pytest.mark.parametrize(
    ("data", "content_type", "size"),
    [
        (still("PNG", (300, 200)), "image/png", (300, 200)),
        (still("WEBP", (64, 64)), "image/webp", (64, 64)),
        (animated("GIF"), "image/gif", (48, 32)),
    ],
)
def test_types_are_recognised_by_the_bytes_not_the_header(
    client: httpx.Client, data: bytes, content_type: str, size: tuple[int, int]
) -> None:
    media = upload(client, random_user_id(), data, content_type="image/jpeg")
    assert media["contentType"] == content_type
    assert (media["width"], media["height"]) == size
    served = client.get(path_of(media["url"]))
    assert served.headers["content-type"] == content_type


def test_what_is_not_an_image_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/v1/media",
        content=b"<html>not a photo</html>",
        headers={**bearer(random_user_id()), "content-type": "image/png"},
    )
    assert "JPEG, PNG, GIF or WebP" in error(response, 400)
    assert response.json()["details"][0]["fieldViolations"][0]["field"] == "content"


def test_a_photo_over_5_mib_is_400_and_any_upload_over_40_mib_413(client: httpx.Client) -> None:
    """The gateway takes a video's 40 MiB and refuses more with 413; a photo over its 5 MiB
    reaches the service, which names the limit."""
    owner = random_user_id()
    too_big = b"\xff\xd8\xff" + bytes(MAX_BYTES)
    response = client.post(
        "/v1/media", content=too_big, headers={**bearer(owner), "content-type": "image/jpeg"}
    )
    assert f"at most {MAX_BYTES} bytes" in error(response, 400)
    over_gateway = b"\xff\xd8\xff" + bytes(MAX_VIDEO_BYTES)
    response = client.post(
        "/v1/media", content=over_gateway, headers={**bearer(owner), "content-type": "image/jpeg"}
    )
    error(response, 413)
    # Exactly at the limit the service judges the bytes.
    at_limit = b"\xff\xd8\xff" + bytes(MAX_BYTES - 3)
    response = client.post(
        "/v1/media", content=at_limit, headers={**bearer(owner), "content-type": "image/jpeg"}
    )
    assert "readable" in error(response, 400)


def test_more_than_5_mib_is_invalid_argument_for_grpc_callers() -> None:
    async def call() -> grpc.StatusCode:
        async with service_channel(MEDIA, tls=MutualTlsSettings()) as channel:
            stub = media_service_pb2_grpc.MediaServiceStub(channel)
            request = media_service_pb2.CreateMediaRequest()
            request.content.content_type = "image/jpeg"
            request.content.data = b"\xff\xd8\xff" + bytes(MAX_BYTES)
            token = bearer(random_user_id())["Authorization"]
            try:
                await stub.CreateMedia(request, metadata=[("authorization", token)], timeout=20)
            except grpc.aio.AioRpcError as failure:
                return failure.code()
            return grpc.StatusCode.OK

    assert asyncio.run(call()) == grpc.StatusCode.INVALID_ARGUMENT


def test_uploads_need_a_token(client: httpx.Client) -> None:
    response = client.post("/v1/media", content=still("PNG"), headers={"content-type": "image/png"})
    error(response, 401)


def test_unknown_media_is_404(client: httpx.Client) -> None:
    error(client.get("/v1/media/123/content"), 404)
    error(client.get("/v1/media/123"), 404)


def post_tweet(client: httpx.Client, author: int, media_ids: list[str]) -> httpx.Response:
    return client.post(
        "/v1/tweets", json={"text": "look", "mediaIds": media_ids}, headers=bearer(author)
    )


def test_tweets_carry_their_photos(client: httpx.Client) -> None:
    author = random_user_id()
    photos = [upload(client, author, still("PNG", (40 + i, 30))) for i in range(2)]
    response = post_tweet(client, author, [photo["id"] for photo in photos])
    assert response.status_code == 200, response.text
    tweet = response.json()
    attached = tweet["media"]
    assert [m["id"] for m in attached] == [p["id"] for p in photos]
    assert {m["tweetId"] for m in attached} == {tweet["id"]}
    assert [m["width"] for m in attached] == [40, 41]
    assert all(m["url"].endswith(f"/v1/media/{m['id']}/content") for m in attached)

    assert client.get(f"/v1/tweets/{tweet['id']}").json()["media"] == attached
    timeline = client.get("/v1/users/me/tweets", headers=bearer(author)).json()
    assert timeline["tweets"][0]["media"] == attached
    assert client.get(f"/v1/media/{photos[0]['id']}").json()["tweetId"] == tweet["id"]
    home: list[JsonObject] = []
    deadline = time.monotonic() + 20
    while not home:  # the fanout is asynchronous
        assert time.monotonic() < deadline, "the tweet never reached its author's home timeline"
        home = client.get("/v1/timelines/home", headers=bearer(author)).json()["tweets"]
        time.sleep(0.1)
    assert home[0]["media"] == attached

    # Already on a tweet: not again on another.
    assert "attached" in error(post_tweet(client, author, [photos[0]["id"]]), 400)


def test_photos_must_be_the_authors_known_and_at_most_4(client: httpx.Client) -> None:
    author, other = random_user_id(), random_user_id()
    theirs = upload(client, other, still("PNG"))
    assert "another user" in error(post_tweet(client, author, [theirs["id"]]), 403)
    assert "404" not in error(post_tweet(client, author, ["987654321"]), 404)
    mine = [upload(client, author, still("GIF")) for _ in range(5)]
    response = post_tweet(client, author, [m["id"] for m in mine])
    assert response.status_code == 400, response.text
    # Nothing was attached by the refused posts: the photos still go on a tweet.
    assert post_tweet(client, author, [mine[0]["id"]]).status_code == 200
    assert client.get(f"/v1/media/{theirs['id']}").json()["tweetId"] == "0"


def test_deleting_a_tweet_removes_its_photos(client: httpx.Client) -> None:
    author = random_user_id()
    photo = upload(client, author, still("JPEG"))
    tweet = post_tweet(client, author, [photo["id"]]).json()
    assert client.get(path_of(photo["url"])).status_code == 200
    deleted = client.delete(f"/v1/tweets/{tweet['id']}", headers=bearer(author))
    assert deleted.status_code == 200, deleted.text

    deadline = time.monotonic() + 20
    while client.get(f"/v1/media/{photo['id']}").status_code != 404:
        assert time.monotonic() < deadline, "the photo of a deleted tweet is still there"
        time.sleep(0.2)
    error(client.get(path_of(photo["url"])), 404)
    error(client.get(path_of(photo["thumbnailUrl"])), 404)
