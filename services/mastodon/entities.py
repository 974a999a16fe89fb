"""Chirp's messages as Mastodon's JSON entities (https://docs.joinmastodon.org/entities/), pure.

Ids are strings, times RFC 3339 in UTC with milliseconds, text is HTML made as Mastodon makes
it (``content_html``: links, mentions and hashtags as anchors with Mastodon's classes, lines
and paragraphs as ``<br />`` and ``<p>``), so clients that style or parse it work unchanged.
Fields Chirp has no notion of are present with Mastodon's defaults (``visibility`` public,
``sensitive`` false, empty ``emojis``), since clients index them without checking.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from chirp.media.v1 import media_pb2
from chirp.tweets.v1 import tweet_pb2
from chirp.users.v1 import user_pb2
from google.protobuf.timestamp_pb2 import Timestamp

#: What clients parse as the server's version: Mastodon 4.2's API (without ``api_versions``,
#: which would switch web clients to endpoints Chirp does not serve).
VERSION = "4.2.0 (compatible; Chirp 0.1.0)"
MAX_CHARACTERS = 280
MAX_MEDIA_ATTACHMENTS = 4
CHARACTERS_PER_URL = 23
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_URL_PREFIX = re.compile(r"\A(https?://(www\.)?)")
_URL_DISPLAY = 30

Json = dict[str, Any]


@dataclass(frozen=True)
class Site:
    """Where the API is served: absolute URLs are made from it."""

    base_url: str  # e.g. http://localhost:8080

    @property
    def domain(self) -> str:
        """Host and port, as Mastodon's ``uri``/``domain`` (clients key their logins by it)."""
        return self.base_url.split("://", 1)[-1].rstrip("/")

    def profile(self, username: str) -> str:
        return f"{self.base_url}/@{username}"

    def tag(self, name: str) -> str:
        return f"{self.base_url}/tags/{name}"


def timestamp(moment: Timestamp) -> str:
    return moment.ToDatetime().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def account(user: user_pb2.User, site: Site) -> Json:
    avatar = f"{site.base_url}/avatars/original/missing.png"
    header = f"{site.base_url}/headers/original/missing.png"
    return {
        "id": str(user.id),
        "username": user.username,
        "acct": user.username,
        "display_name": user.display_name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": False,
        "group": False,
        "created_at": timestamp(user.create_time),
        "note": _paragraphs(html.escape(user.bio)) if user.bio else "",
        "url": site.profile(user.username),
        "uri": f"{site.base_url}/users/{user.username}",
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": user.follower_count,
        "following_count": user.following_count,
        "statuses_count": user.tweet_count,
        "last_status_at": None,
        "hide_collections": None,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": [],
    }


def credential_account(user: user_pb2.User, site: Site) -> Json:
    """The caller's own account, with what only its owner sees (``source``)."""
    return {
        **account(user, site),
        "source": {
            "privacy": "public",
            "sensitive": False,
            "language": "",
            "note": user.bio,
            "fields": [],
            "follow_requests_count": 0,
            "hide_collections": False,
            "discoverable": True,
            "indexable": False,
        },
        "role": {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False},
    }


def relationship(user_id: int, *, following: bool, followed_by: bool) -> Json:
    """The caller's relationship to the account ``user_id``."""
    return {
        "id": str(user_id),
        "following": following,
        "showing_reblogs": following,
        "notifying": False,
        "languages": None,
        "followed_by": followed_by,
        "blocking": False,
        "blocked_by": False,
        "muting": False,
        "muting_notifications": False,
        "muting_expires_at": None,
        "requested": False,
        "requested_by": False,
        "domain_blocking": False,
        "endorsed": False,
        "note": "",
    }


@dataclass(frozen=True)
class Marks:
    """The caller's own marks on statuses: which they favourited and reblogged."""

    liked: frozenset[int] = frozenset()
    retweeted: frozenset[int] = frozenset()


NO_MARKS = Marks()


def status(
    tweet: tweet_pb2.Tweet, site: Site, marks: Marks = NO_MARKS, *, text: bool = False
) -> Json:
    """A tweet as a Status; a retweet as Mastodon's reblog: a status of its own wrapping the
    original. ``text`` adds the source text (what a delete answers)."""
    if tweet.HasField("retweet_of"):
        wrapper = _status(tweet, site, marks)
        original = _status(tweet.retweet_of, site, marks)
        wrapper.update(content="", mentions=[], tags=[], media_attachments=[], reblog=original)
        wrapper["reblogged"] = True
        return wrapper
    rendered = _status(tweet, site, marks)
    if text:
        rendered["text"] = tweet.text
    return rendered


def original_id(tweet: tweet_pb2.Tweet) -> int:
    """The tweet a caller's marks are on: a retweet's original."""
    return tweet.retweet_of.id if tweet.HasField("retweet_of") else tweet.id


def _status(tweet: tweet_pb2.Tweet, site: Site, marks: Marks) -> Json:
    author = tweet.author
    entities = tweet.entities
    return {
        "id": str(tweet.id),
        "created_at": timestamp(tweet.create_time),
        "in_reply_to_id": str(tweet.reply_to_id) if tweet.reply_to_id else None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": None,
        "uri": f"{site.base_url}/users/{author.username}/statuses/{tweet.id}",
        "url": f"{site.profile(author.username)}/{tweet.id}",
        "replies_count": tweet.reply_count,
        "reblogs_count": tweet.retweet_count,
        "favourites_count": tweet.like_count,
        "edited_at": timestamp(tweet.edit_time) if tweet.HasField("edit_time") else None,
        "favourited": tweet.id in marks.liked,
        "reblogged": tweet.id in marks.retweeted,
        "muted": False,
        "bookmarked": False,
        "pinned": False,
        "content": content_html(tweet.text, entities, site),
        "filtered": [],
        "reblog": None,
        "application": None,
        "account": account(author, site),
        "media_attachments": [attachment(media) for media in tweet.media],
        "mentions": [
            {
                "id": str(mention.user_id),
                "username": mention.username,
                "url": site.profile(mention.username),
                "acct": mention.username,
            }
            for mention in entities.mentions
        ],
        "tags": [{"name": tag.tag, "url": site.tag(tag.tag)} for tag in entities.hashtags],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def attachment(media: media_pb2.Media) -> Json:
    """A photo or video as a MediaAttachment; a video's URLs are null while it is processed
    (clients poll ``GET /api/v1/media/:id`` until ``url`` is set, as with Mastodon)."""
    size: Json = {
        "width": media.width,
        "height": media.height,
        "size": f"{media.width}x{media.height}",
        "aspect": media.width / media.height if media.height else 1.0,
    }
    video = media.kind == media_pb2.Media.KIND_VIDEO
    if video:
        size["duration"] = media.duration_ms / 1000
    return {
        "id": str(media.id),
        "type": "video" if video else "image",
        "url": media.url or None,
        "preview_url": media.thumbnail_url or media.url or None,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": {"original": size},
        "description": media.alt_text or None,
        "blurhash": None,
    }


def edit(
    version: tweet_pb2.TweetVersion | tweet_pb2.Tweet, author: user_pb2.User, site: Site
) -> Json:
    """One version of a status, as its history lists it (a StatusEdit)."""
    return {
        "content": content_html(version.text, version.entities, site),
        "spoiler_text": "",
        "sensitive": False,
        "created_at": timestamp(version.create_time),
        "account": account(author, site),
        "poll": None,
        "media_attachments": [],
        "emojis": [],
    }


def tag(name: str, site: Site, uses: int = 0, accounts: int = 0, day: int = 0) -> Json:
    """A hashtag, with one day of history when it trends."""
    history = [{"day": str(day), "uses": str(uses), "accounts": str(accounts)}] if day else []
    return {"name": name, "url": site.tag(name), "history": history, "following": False}


def content_html(text: str, entities: tweet_pb2.TweetEntities, site: Site) -> str:
    """The text as Mastodon's formatter makes it: each entity an anchor, the rest escaped,
    blank lines between paragraphs, single line breaks as ``<br />``."""
    if not text.strip():
        return ""
    spans: list[tuple[int, int, str]] = []
    spans += [(url.start, url.end, _link(url.url)) for url in entities.urls]
    spans += [
        (tag.start, tag.end, _hashtag(text[tag.start : tag.end], site)) for tag in entities.hashtags
    ]
    spans += [
        (mention.start, mention.end, _mention(mention.username, site))
        for mention in entities.mentions
        if mention.user_id
    ]
    parts, at = [], 0
    for start, end, anchor in sorted(spans):
        if start < at:  # overlapping entities: the first one wins
            continue
        parts += [html.escape(text[at:start]), anchor]
        at = end
    parts.append(html.escape(text[at:]))
    return _paragraphs("".join(parts))


def _paragraphs(escaped: str) -> str:
    paragraphs = re.split(r"\n\s*\n", escaped.strip("\n"))
    return "".join(f"<p>{paragraph.replace(chr(10), '<br />')}</p>" for paragraph in paragraphs)


def _link(url: str) -> str:
    prefix_match = _URL_PREFIX.match(url)
    prefix = prefix_match.group(1) if prefix_match else ""
    rest = url[len(prefix) :]
    display, suffix = rest[:_URL_DISPLAY], rest[_URL_DISPLAY:]
    ellipsis = "ellipsis" if suffix else ""
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener noreferrer" '
        f'translate="no"><span class="invisible">{html.escape(prefix)}</span>'
        f'<span class="{ellipsis}">{html.escape(display)}</span>'
        f'<span class="invisible">{html.escape(suffix)}</span></a>'
    )


def _hashtag(written: str, site: Site) -> str:
    name = written[1:]
    return (
        f'<a href="{html.escape(site.tag(name))}" class="mention hashtag" rel="tag">'
        f"#<span>{html.escape(name)}</span></a>"
    )


def _mention(username: str, site: Site) -> str:
    return (
        f'<span class="h-card" translate="no"><a href="{html.escape(site.profile(username))}" '
        f'class="u-url mention">@<span>{html.escape(username)}</span></a></span>'
    )


def instance_v1(site: Site) -> Json:
    return {
        "uri": site.domain,
        "title": "Chirp",
        "short_description": "A Twitter-style server",
        "description": "A Twitter-style server",
        "email": "",
        "version": VERSION,
        "urls": {"streaming_api": _streaming(site)},
        "stats": {"user_count": 0, "status_count": 0, "domain_count": 0},
        "thumbnail": None,
        "languages": ["en"],
        "registrations": False,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": {
            "accounts": {"max_featured_tags": 0},
            "statuses": _status_limits(),
            "media_attachments": _media_limits(),
            "polls": _polls(),
        },
        "contact_account": None,
        "rules": [],
    }


def instance_v2(site: Site) -> Json:
    return {
        "domain": site.domain,
        "title": "Chirp",
        "version": VERSION,
        "source_url": site.base_url,
        "description": "A Twitter-style server",
        "usage": {"users": {"active_month": 0}},
        "thumbnail": {"url": f"{site.base_url}/thumbnail.png", "blurhash": None, "versions": {}},
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": {
                "streaming": _streaming(site),
                "status": None,
                "about": f"{site.base_url}/about",
                "privacy_policy": None,
                "terms_of_service": None,
            },
            "vapid": {"public_key": ""},
            "accounts": {
                "max_featured_tags": 0,
                "max_pinned_statuses": 0,
                "max_display_name_length": 50,
                "max_note_length": 160,
                "max_profile_fields": 0,
            },
            "statuses": _status_limits(),
            "media_attachments": {**_media_limits(), "description_limit": 1500},
            "polls": _polls(),
            "translation": {"enabled": False},
        },
        "registrations": {
            "enabled": False,
            "approval_required": False,
            "reason_required": False,
            "message": None,
            "min_age": None,
            "url": None,
        },
        "contact": {"email": "", "account": None},
        "rules": [],
    }


def nodeinfo() -> Json:
    return {
        "version": "2.0",
        "software": {"name": "chirp", "version": "0.1.0"},
        "protocols": [],
        "services": {"outbound": [], "inbound": []},
        "usage": {"users": {}, "localPosts": 0},
        "openRegistrations": False,
        "metadata": {},
    }


def _streaming(site: Site) -> str:
    return "ws" + site.base_url.removeprefix("http")


def _status_limits() -> Json:
    return {
        "max_characters": MAX_CHARACTERS,
        "max_media_attachments": MAX_MEDIA_ATTACHMENTS,
        "characters_reserved_per_url": CHARACTERS_PER_URL,
    }


def _media_limits() -> Json:
    return {
        "supported_mime_types": list(IMAGE_TYPES),
        "image_size_limit": 5 * 1024 * 1024,
        "image_matrix_limit": 40_000_000,
        "video_size_limit": 0,
        "video_frame_rate_limit": 0,
        "video_matrix_limit": 0,
    }


def _polls() -> Json:
    return {
        "max_options": 0,
        "max_characters_per_option": 0,
        "min_expiration": 0,
        "max_expiration": 0,
    }
