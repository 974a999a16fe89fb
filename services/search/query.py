"""The tweet search language, parsed into a structured query (pure; no Tantivy here).

``q`` is a list of space-separated parts, all of which must match: ``word``, ``"a phrase"``,
``#tag``, ``@user``, ``from:user``, ``since:YYYY-MM-DD`` (inclusive), ``until:YYYY-MM-DD``
(exclusive); a leading ``-`` excludes a word, phrase, tag, mention or author. User text never
reaches Tantivy's own query parser, so its syntax (``AND``, ``field:``, ``*``) has no meaning
here, and every malformed query is an ``InvalidArgument`` on ``q`` naming the rule it broke.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from services.platform.errors import InvalidArgument
from services.platform.usernames import fold, is_username

MAX_QUERY_LENGTH = 512
FIELD = "q"

_PART = re.compile(r'(-?)"([^"]*)"|([^\s"]+)')
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Kind(Enum):
    WORD = "word"
    PHRASE = "phrase"
    HASHTAG = "hashtag"
    MENTION = "mention"
    AUTHOR = "author"


@dataclass(frozen=True)
class Clause:
    """One part of a query. Words and phrases keep their text (the index analyzes them, so
    they are lowercased and stemmed exactly as the tweets were); tags, mentions and authors
    are lowercased here, since they are matched whole."""

    kind: Kind
    value: str
    excluded: bool = False


@dataclass(frozen=True)
class TweetQuery:
    clauses: tuple[Clause, ...]
    since_ms: int | None = None
    until_ms: int | None = None

    @property
    def required(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if not c.excluded)

    @property
    def excluded(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.excluded)


def _invalid(rule: str) -> InvalidArgument:
    return InvalidArgument.field(FIELD, rule)


def parse(q: str) -> TweetQuery:
    """Parses ``q``; raises ``InvalidArgument`` on field ``q`` saying which rule it breaks."""
    _check_size(q)
    clauses: list[Clause] = []
    dates: dict[str, int] = {}
    for phrase, excluded, part in _parts(q):
        if part is None:
            if not _searchable(phrase):
                raise _invalid('a "phrase" needs at least one letter or digit')
            clauses.append(Clause(Kind.PHRASE, phrase, excluded))
        elif part.lower().startswith(("since:", "until:")):
            name, _, value = part.lower().partition(":")
            if name in dates:
                raise _invalid(f"{name}: may appear only once")
            dates[name] = _date_ms(name, value)
        elif (clause := _clause(part)) is not None:
            clauses.append(clause)
    query = TweetQuery(tuple(clauses), dates.get("since"), dates.get("until"))
    since, until = query.since_ms, query.until_ms
    if since is not None and until is not None and until <= since:
        raise _invalid("until: must be a later date than since:")
    if not query.required:
        raise _invalid(
            "needs at least one word, phrase, #hashtag, @mention or from: that is not "
            "excluded with '-' (dates only narrow a search)"
        )
    return query


def _check_size(q: str) -> None:
    if not q.strip():
        raise _invalid("is required: what to search for")
    if len(q) > MAX_QUERY_LENGTH:
        raise _invalid(f"must be at most {MAX_QUERY_LENGTH} characters")


def _parts(q: str) -> Iterator[tuple[str, bool, str | None]]:
    """``(phrase, excluded, None)`` for a quoted phrase, ``("", False, part)`` for the rest."""
    position = 0
    while True:
        while position < len(q) and q[position].isspace():
            position += 1
        if position == len(q):
            return
        match = _PART.match(q, position)
        if match is None or (match.group(3) == "-" and q.startswith('-"', position)):
            # only a '"' without its closing quote stops the scan (or leaves '-' before it)
            quote = q.index('"', position)
            raise _invalid(f"has an unbalanced double quote at character {quote + 1}")
        position = match.end()
        if match.group(3) is None:
            yield match.group(2), bool(match.group(1)), None
        else:
            yield "", False, match.group(3)


def _clause(part: str) -> Clause | None:
    """A word, #tag, @mention or from:user, possibly excluded; None for a word with nothing
    searchable in it (punctuation is not indexed)."""
    excluded = part.startswith("-")
    body = part[1:] if excluded else part
    if not body:
        raise _invalid("'-' must be followed by what to exclude")
    lowered = body.lower()
    if excluded and lowered.startswith(("since:", "until:")):
        raise _invalid("since: and until: cannot be excluded with '-'")
    if lowered.startswith("from:"):
        return Clause(Kind.AUTHOR, _username("from:", body[5:]), excluded)
    if body.startswith("@"):
        return Clause(Kind.MENTION, _username("@", body[1:]), excluded)
    if body.startswith("#"):
        tag = body[1:]
        if not tag or not all(_is_tag_char(c) for c in tag) or tag.isdigit():
            raise _invalid(
                f"#{tag} is not a hashtag: '#' must be followed by letters, digits or '_', "
                "not only digits"
            )
        return Clause(Kind.HASHTAG, tag.lower(), excluded)
    if not _searchable(body):
        return None
    return Clause(Kind.WORD, body, excluded)


def _username(operator: str, value: str) -> str:
    if not is_username(value):
        raise _invalid(f"{operator} must be followed by a username (1-15 of A-Z, a-z, 0-9, _)")
    return fold(value)


def _date_ms(name: str, value: str) -> int:
    if not _DATE.fullmatch(value):
        raise _invalid(f"{name}: must be followed by a date as YYYY-MM-DD")
    try:
        day = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise _invalid(f"{name}:{value} is not a calendar date") from None
    return int(day.timestamp() * 1000)


def _searchable(text: str) -> bool:
    return any(c.isalnum() for c in text)


def _is_tag_char(char: str) -> bool:
    """The tweets service's hashtag alphabet: letters, combining marks, decimal digits, '_'."""
    category = unicodedata.category(char)
    return char == "_" or category[0] in "LM" or category == "Nd"


def fingerprint(*parts: str) -> str:
    """What a page token of a search is bound to: the request it continues (``q`` and
    ``order``), so a token used with another query is refused instead of silently paging
    something else."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]
