"""Chirp's messages as Mastodon's JSON: the HTML Mastodon's formatter makes, reblogs, times."""

from __future__ import annotations

from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from services.mastodon import entities
from services.mastodon.entities import Site

SITE = Site("https://chirp.example")


def _at(seconds: int, nanos: int = 0) -> Timestamp:
    return Timestamp(seconds=seconds, nanos=nanos)


def _tweet(text: str, reply_to_id: int = 0, like_count: int = 0) -> tweet_pb2.Tweet:
    return tweet_pb2.Tweet(
        id=10,
        author=user_pb2.User(id=1, username="ada", create_time=_at(1_700_000_000)),
        text=text,
        create_time=_at(1_800_000_000, 7_000_000),
        reply_to_id=reply_to_id,
        like_count=like_count,
    )


def test_text_becomes_mastodons_html() -> None:
    text = "Hi @bob see https://example.com/a #chirp\nbye <3"
    found = tweet_pb2.TweetEntities(
        mentions=[tweet_pb2.MentionEntity(start=3, end=7, username="bob", user_id=2)],
        urls=[tweet_pb2.UrlEntity(start=12, end=33, url="https://example.com/a")],
        hashtags=[tweet_pb2.HashtagEntity(start=34, end=40, tag="chirp")],
    )
    assert entities.content_html(text, found, SITE) == (
        '<p>Hi <span class="h-card" translate="no"><a href="https://chirp.example/@bob" '
        'class="u-url mention">@<span>bob</span></a></span> see '
        '<a href="https://example.com/a" target="_blank" rel="nofollow noopener noreferrer" '
        'translate="no"><span class="invisible">https://</span><span class="">example.com/a'
        '</span><span class="invisible"></span></a> <a href="https://chirp.example/tags/chirp" '
        'class="mention hashtag" rel="tag">#<span>chirp</span></a><br />bye &lt;3</p>'
    )


def test_paragraphs_long_links_and_unknown_mentions() -> None:
    url = "https://example.com/" + "a" * 40
    found = tweet_pb2.TweetEntities(
        urls=[tweet_pb2.UrlEntity(start=0, end=len(url), url=url)],
        mentions=[tweet_pb2.MentionEntity(start=len(url) + 2, end=len(url) + 7, username="nobo")],
    )
    html = entities.content_html(f"{url}\n\n@nobo", found, SITE)
    assert html.count("<p>") == 2
    assert '<span class="ellipsis">' in html  # shown cut, the rest invisible
    assert html.endswith("<p>@nobo</p>")  # nobody by that name: plain text
    assert entities.content_html("  ", tweet_pb2.TweetEntities(), SITE) == ""


def test_a_status_has_mastodons_fields_and_times() -> None:
    status = entities.status(_tweet("hello", reply_to_id=9, like_count=3), SITE)
    assert status["id"] == "10"
    assert status["created_at"] == "2027-01-15T08:00:00.007Z"
    assert (status["in_reply_to_id"], status["favourites_count"]) == ("9", 3)
    assert status["url"] == "https://chirp.example/@ada/10"
    assert status["account"]["acct"] == "ada"
    assert "scheduled_at" not in status  # toot would take it for a scheduled post
    assert status["reblog"] is None


def test_a_retweet_is_a_reblog_wrapping_the_original() -> None:
    original = _tweet("original")
    retweet = tweet_pb2.Tweet(
        id=11,
        author=user_pb2.User(id=2, username="bob", create_time=_at(1_700_000_000)),
        create_time=_at(1_800_000_100),
        retweet_of=original,
    )
    status = entities.status(retweet, SITE)
    assert (status["id"], status["account"]["acct"], status["content"]) == ("11", "bob", "")
    assert status["reblog"]["id"] == "10"
    assert status["reblogged"] is True


def test_a_deleted_status_carries_its_source_text() -> None:
    assert entities.status(_tweet("gone soon"), SITE, text=True)["text"] == "gone soon"


def test_the_instance_names_the_site() -> None:
    assert entities.instance_v1(SITE)["uri"] == "chirp.example"
    assert entities.instance_v1(SITE)["urls"]["streaming_api"] == "wss://chirp.example"
    assert entities.instance_v2(SITE)["domain"] == "chirp.example"
