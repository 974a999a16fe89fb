"""The tweet search language: what parses into which clauses, and which rule a bad query breaks."""

from __future__ import annotations

import pytest

from services.platform.errors import InvalidArgument
from services.search.query import Clause, Kind, TweetQuery, parse


def test_every_kind_of_part() -> None:
    query = parse('Chirp "Hello World" -spoiler -"bad words" #Python @Ada from:Grace -#Java')
    assert query.clauses == (
        Clause(Kind.WORD, "Chirp"),
        Clause(Kind.PHRASE, "Hello World"),
        Clause(Kind.WORD, "spoiler", excluded=True),
        Clause(Kind.PHRASE, "bad words", excluded=True),
        Clause(Kind.HASHTAG, "python"),
        Clause(Kind.MENTION, "ada"),
        Clause(Kind.AUTHOR, "grace"),
        Clause(Kind.HASHTAG, "java", excluded=True),
    )
    assert query.since_ms is None
    assert query.until_ms is None


def test_dates_are_utc_days_since_inclusive_until_exclusive() -> None:
    query = parse("news since:2026-01-31 UNTIL:2026-02-01")
    assert query == TweetQuery(
        (Clause(Kind.WORD, "news"),), since_ms=1_769_817_600_000, until_ms=1_769_904_000_000
    )


def test_punctuation_only_words_are_ignored_and_operators_are_case_insensitive() -> None:
    assert parse("hello !!! FROM:ada").clauses == (
        Clause(Kind.WORD, "hello"),
        Clause(Kind.AUTHOR, "ada"),
    )


def test_unicode_hashtags_and_phrases_next_to_words() -> None:
    assert parse('#café_2 "a b"c').clauses == (
        Clause(Kind.HASHTAG, "café_2"),
        Clause(Kind.PHRASE, "a b"),
        Clause(Kind.WORD, "c"),
    )


@pytest.mark.parametrize(
    ("q", "rule"),
    [
        ("", "is required"),
        ("   ", "is required"),
        ("x" * 513, "at most 512 characters"),
        ('"hello world', "unbalanced double quote at character 1"),
        ('hello "world', "unbalanced double quote at character 7"),
        ('-"open', "unbalanced double quote"),
        ('""', "phrase"),
        ("-spoiler", "not excluded"),
        ('-"a b" -c', "not excluded"),
        ("since:2026-01-01", "dates only narrow"),
        ("!!!", "at least one word"),
        ("a since:2026-13-01", "since:2026-13-01 is not a calendar date"),
        ("a since:yesterday", "since: must be followed by a date as YYYY-MM-DD"),
        ("a until:2026-1-1", "until: must be followed by a date"),
        ("a since:2026-01-02 until:2026-01-02", "until: must be a later date than since:"),
        ("a since:2026-01-02 since:2026-01-03", "since: may appear only once"),
        ("a -since:2026-01-02", "cannot be excluded"),
        ("a -", "'-' must be followed"),
        ("#", "is not a hashtag"),
        ("#123", "not only digits"),
        ("#a-b", "is not a hashtag"),
        ("@", "@ must be followed by a username"),
        ("@waytoolongusername1", "username"),
        ("from:", "from: must be followed by a username"),
        ("from:ada.b", "from: must be followed by a username"),
    ],
)
def test_bad_queries_name_the_field_and_the_rule(q: str, rule: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse(q)
    (violation,) = raised.value.violations
    assert violation.field == "q"
    assert rule in violation.description


def test_a_query_of_exactly_512_characters_is_fine() -> None:
    assert parse("a" * 512).clauses == (Clause(Kind.WORD, "a" * 512),)
