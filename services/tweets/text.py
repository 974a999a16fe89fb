"""Tweet text: normalization, the length rule, and entity extraction, as pure functions.

Decisions (see also ``services/tweets/README.md``):

* Text is NFC-normalized, ``\\r\\n`` and lone ``\\r`` become ``\\n``, and surrounding whitespace is
  trimmed before anything is counted or stored; entity offsets are into that stored text.
* Length is counted in Unicode code points, **with every http(s) URL weighing 23** however long
  or short it is written (as Twitter counts its t.co links), so a long link does not eat the
  tweet. The weighted length is at most 280; the stored text is also capped at 4,000 code points
  in all, so a tweet of long links stays bounded.
* Control characters (Unicode category Cc) are refused, except newlines.
* Hashtags are ``#`` followed by Unicode letters, combining marks, decimal digits or ``_``, not
  all digits, and not glued to a preceding word character (``a#b`` is no tag) or ``&``.
* Mentions are ``@`` followed by 1-15 of ``[A-Za-z0-9_]`` (the username alphabet), not longer,
  not preceded by a word character (``ada@example.com`` mentions nobody); only those naming an
  existing user become entities (resolution is the caller's job, see ``mention_candidates``).
* URLs start with ``http://`` or ``https://`` (any case), run to the next whitespace, lose
  trailing punctuation and unbalanced closing brackets, and need a valid host. ``#`` and ``@``
  inside a URL are part of the URL, not tags or mentions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.platform.errors import FieldViolation
from services.platform.usernames import USERNAME_CHARS, USERNAME_MAX, fold

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
MAX_STORED_LENGTH = 4_000

_URL = re.compile(r"(?<![\w@$#\uff20\uff03/.-])https?://[^\s<>\"\u3000]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'\"…"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_HOST = re.compile(r"[\w-]+(\.[\w-]+)*\.?")
_HASH_SIGNS = "#\uff03"  # and the full-width number sign
_AT_SIGNS = "@\uff20"  # and the full-width commercial at
_MENTION = re.compile(
    rf"[{_AT_SIGNS}]([{USERNAME_CHARS}]{{1,{USERNAME_MAX}}})(?![{USERNAME_CHARS}])", re.ASCII
)


@dataclass(frozen=True)
class Hashtag:
    start: int
    end: int
    tag: str


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    username: str
    user_id: int


@dataclass(frozen=True)
class Link:
    start: int
    end: int
    url: str


@dataclass(frozen=True)
class MentionCandidate:
    """An ``@name`` token, before it is known whether ``name`` is a user."""

    start: int
    end: int
    username: str


@dataclass(frozen=True)
class Entities:
    hashtags: tuple[Hashtag, ...] = ()
    mentions: tuple[Mention, ...] = ()
    urls: tuple[Link, ...] = ()


def normalize(text: str) -> str:
    """The form a text is checked, counted and stored in."""
    unified = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return unified.strip()


def weighted_length(text: str, urls: tuple[Link, ...]) -> int:
    """Code points, with each URL counted as ``URL_WEIGHT`` instead of its own length."""
    return len(text) - sum(link.end - link.start for link in urls) + URL_WEIGHT * len(urls)


def violations(text: str, *, has_media: bool, field: str = "text") -> list[FieldViolation]:
    """What is wrong with an already normalized ``text``; empty when it may be posted."""
    found: list[FieldViolation] = []
    if not text and not has_media:
        found.append(FieldViolation(field, "must not be empty unless photos are attached"))
    controls = [
        f"U+{ord(char):04X} at {offset}"
        for offset, char in enumerate(text)
        if char != "\n" and unicodedata.category(char) == "Cc"
    ]
    if controls:
        found.append(
            FieldViolation(
                field,
                "must not contain control characters other than newlines (found "
                + ", ".join(controls[:3])
                + ")",
            )
        )
    if len(text) > MAX_STORED_LENGTH:
        found.append(
            FieldViolation(field, f"must be at most {MAX_STORED_LENGTH} code points in all")
        )
    else:
        length = weighted_length(text, find_urls(text))
        if length > MAX_WEIGHTED_LENGTH:
            found.append(
                FieldViolation(
                    field,
                    f"must be at most {MAX_WEIGHTED_LENGTH} characters (Unicode code points "
                    f"after NFC, each URL counting {URL_WEIGHT}); this one has {length}",
                )
            )
    return found


def find_urls(text: str) -> tuple[Link, ...]:
    links = []
    for match in _URL.finditer(text):
        url = _trim(match.group())
        if _has_valid_host(url):
            links.append(Link(match.start(), match.start() + len(url), url))
    return tuple(links)


def _trim(url: str) -> str:
    """Drops trailing punctuation and closing brackets that do not close one opened in the URL
    (``(see https://a.example/x)`` keeps the ``)`` outside, ``.../Foo_(bar)`` keeps it)."""
    while url:
        last = url[-1]
        unbalanced = last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last])
        if last not in _TRAILING_PUNCTUATION and not unbalanced:
            break
        url = url[:-1]
    return url


def _has_valid_host(url: str) -> bool:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    host = parts.hostname
    if not host:
        return False
    if ":" in host:  # a bracketed IPv6 literal, already validated by urlsplit
        return True
    return bool(_HOST.fullmatch(host)) and "_" not in host


def find_hashtags(text: str, urls: tuple[Link, ...] = ()) -> tuple[Hashtag, ...]:
    tags = []
    for offset, char in enumerate(text):
        if char not in _HASH_SIGNS or _inside(offset, urls):
            continue
        if offset > 0 and (_is_tag_char(text[offset - 1]) or text[offset - 1] == "&"):
            continue
        end = offset + 1
        while end < len(text) and _is_tag_char(text[end]):
            end += 1
        tag = text[offset + 1 : end]
        if tag and not all(unicodedata.category(c) == "Nd" for c in tag):
            tags.append(Hashtag(offset, end, tag))
    return tuple(tags)


def _is_tag_char(char: str) -> bool:
    category = unicodedata.category(char)
    return char == "_" or category[0] in "LM" or category == "Nd"


def mention_candidates(text: str, urls: tuple[Link, ...] = ()) -> tuple[MentionCandidate, ...]:
    candidates = []
    for match in _MENTION.finditer(text):
        start = match.start()
        if _inside(start, urls):
            continue
        if start > 0 and (_is_tag_char(text[start - 1]) or text[start - 1] in _AT_SIGNS):
            continue
        candidates.append(MentionCandidate(start, match.end(), match.group(1)))
    return tuple(candidates)


def _inside(offset: int, urls: tuple[Link, ...]) -> bool:
    return any(link.start <= offset < link.end for link in urls)


def mentioned_usernames(text: str) -> list[str]:
    """The distinct folded usernames ``text`` mentions, to be resolved to users."""
    candidates = mention_candidates(text, find_urls(text))
    return list(dict.fromkeys(fold(candidate.username) for candidate in candidates))


def entities(text: str, users: Mapping[str, tuple[int, str]]) -> Entities:
    """The entities of ``text``; ``users`` maps the folded usernames that name existing users to
    (user id, username as registered), and only those mentions are kept."""
    urls = find_urls(text)
    mentions = tuple(
        Mention(c.start, c.end, users[fold(c.username)][1], users[fold(c.username)][0])
        for c in mention_candidates(text, urls)
        if fold(c.username) in users
    )
    return Entities(hashtags=find_hashtags(text, urls), mentions=mentions, urls=urls)
