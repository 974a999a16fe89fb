"""Photos on tweets, the tweets service's side: they survive the tweet cache's round trip, and
a tweet whose photos could not be described keeps their ids."""

from __future__ import annotations

from datetime import UTC, datetime

from services.platform.ids import compose, wall_clock_ms
from services.tweets.convert import shallow_view_of, tweet_message
from services.tweets.model import Attachment, Author, Tweet, TweetView

NOW = datetime(2026, 11, 21, 9, 0, 0, 123000, tzinfo=UTC)
TWEET_ID = compose(wall_clock_ms(), 3, 1)
PHOTO = Attachment(
    id=TWEET_ID - 5,
    owner_id=7,
    url="http://localhost:8080/v1/media/1/content",
    thumbnail_url="http://localhost:8080/v1/media/1/content?thumbnail=true",
    content_type="image/png",
    width=640,
    height=480,
    size_bytes=1234,
    alt_text="a red square",
    tweet_id=TWEET_ID,
    create_time=NOW,
)


def test_photos_survive_the_cache_round_trip() -> None:
    tweet = Tweet(id=TWEET_ID, author_id=7, text="look", media_ids=(PHOTO.id,))
    view = TweetView(tweet, Author(7, "ada"), media=(PHOTO,))
    message = tweet_message(view)
    assert message.media[0].url == PHOTO.url
    assert message.media[0].width == 640
    assert shallow_view_of(message) == view


def test_photos_not_described_show_their_ids() -> None:
    tweet = Tweet(id=TWEET_ID, author_id=7, text="", media_ids=(11, 12))
    message = tweet_message(TweetView(tweet, Author(7)))
    assert [media.id for media in message.media] == [11, 12]
    assert all(not media.url for media in message.media)
