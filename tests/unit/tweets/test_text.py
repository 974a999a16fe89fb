"""Tweet text: normalization, the length rule, control characters, and entity extraction."""

from __future__ import annotations

import pytest

from services.tweets.text import (
    MAX_STORED_LENGTH,
    URL_WEIGHT,
    Hashtag,
    Link,
    Mention,
    entities,
    find_hashtags,
    find_urls,
    mentioned_usernames,
    normalize,
    violations,
    weighted_length,
)


def _descriptions(text: str, *, has_media: bool = False) -> list[str]:
    return [v.description for v in violations(normalize(text), has_media=has_media)]


def test_text_is_nfc_normalized_trimmed_and_newlines_unified() -> None:
    decomposed = "Cafe\u0301\r\nline two\r"
    assert normalize(f"  {decomposed}  ") == "Caf\u00e9\nline two"


def test_length_counts_code_points_after_nfc() -> None:
    # 280 decomposed "é" are 560 code points as sent but 280 after NFC: allowed.
    assert _descriptions("e\u0301" * 280) == []
    assert _descriptions("é" * 281)[0].startswith("must be at most 280 characters")
    # An emoji outside the BMP is one code point (not two UTF-16 units).
    assert _descriptions("😀" * 280) == []


def test_every_url_weighs_23_however_long() -> None:
    long_url = "https://example.com/" + "a" * 500
    text = "x" * (280 - URL_WEIGHT - 1) + " " + long_url
    assert weighted_length(text, find_urls(text)) == 280
    assert _descriptions(text) == []
    assert _descriptions("y" + text)[0].startswith("must be at most 280")
    short = " ".join(["http://a.co"] * 13)  # 13 x 23 + 12 spaces = 311
    assert _descriptions(short)[0].endswith("this one has 311")


def test_stored_text_is_bounded_whatever_the_urls() -> None:
    text = " ".join(["https://example.com/" + "b" * 480] * 9)
    assert len(text) > MAX_STORED_LENGTH
    assert _descriptions(text) == [f"must be at most {MAX_STORED_LENGTH} code points in all"]


def test_empty_text_needs_media() -> None:
    assert _descriptions("   \n ") == ["must not be empty unless photos are attached"]
    assert _descriptions("", has_media=True) == []


@pytest.mark.parametrize("control", ["\t", "\x00", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused_but_newlines_allowed(control: str) -> None:
    assert _descriptions(f"a{control}b")[0].startswith("must not contain control characters")
    assert _descriptions("a\nb\n\nc") == []


def test_format_characters_such_as_zero_width_joiners_are_allowed() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert _descriptions(family) == []


def test_urls_are_found_trimmed_and_validated() -> None:
    text = "see (https://en.wikipedia.org/wiki/Foo_(bar)), HTTP://Example.com/a?b=1#c. and http://x"
    assert [link.url for link in find_urls(text)] == [
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "HTTP://Example.com/a?b=1#c",
        "http://x",
    ]
    first = find_urls(text)[0]
    assert text[first.start : first.end] == first.url
    assert find_urls("ftp://example.com http:// https://bad_host.com http://a:99999") == ()
    assert find_urls("nohttp://example.com") == ()


def test_hashtags_take_unicode_letters_and_marks_but_not_all_digits() -> None:
    # \uff03 is the full-width number sign.
    text = "#hello #Café #日本語 #नमस्ते #2024 #v2 #_ a#b &#39; \uff03full #snake_case!"
    assert [h.tag for h in find_hashtags(text)] == [
        "hello",
        "Café",
        "日本語",
        "नमस्ते",
        "v2",
        "_",
        "full",
        "snake_case",
    ]
    first = find_hashtags(text)[0]
    assert first == Hashtag(0, 6, "hello")


def test_tags_and_mentions_inside_urls_are_part_of_the_url() -> None:
    text = "https://example.com/#section https://example.com/@user #real"
    assert [h.tag for h in find_hashtags(text, find_urls(text))] == ["real"]
    assert mentioned_usernames(text) == []


def test_mentions_are_usernames_of_1_to_15_characters_not_in_emails() -> None:
    # \uff20 is the full-width commercial at.
    text = "@Ada, @bob_2 mail ada@example.com @toolongusername16 @@x \uff20Grace @Ada"
    assert mentioned_usernames(text) == ["ada", "bob_2", "grace"]


def test_only_mentions_of_existing_users_become_entities_with_registered_names() -> None:
    text = "hi @ADA and @ghost and @ada"
    found = entities(text, {"ada": (7, "Ada")})
    assert found.mentions == (Mention(3, 7, "Ada", 7), Mention(23, 27, "Ada", 7))
    assert found.hashtags == ()
    assert found.urls == ()


def test_entity_offsets_are_code_points_into_the_stored_text() -> None:
    text = normalize("😀 #tag https://a.example")
    found = entities(text, {})
    assert found.hashtags == (Hashtag(2, 6, "tag"),)
    assert found.urls == (Link(7, 24, "https://a.example"),)
