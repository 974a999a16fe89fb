"""The rules of usernames, passwords and profile fields, and of update masks."""

from __future__ import annotations

import pytest

from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.usernames import fold
from services.users import rules

GOOD_PASSWORD = "correct horse"  # noqa: S105  (a test account's)


def _violations(error: pytest.ExceptionInfo[InvalidArgument]) -> list[FieldViolation]:
    return list(error.value.violations)


@pytest.mark.parametrize("username", ["a", "Z", "_", "a_b_9", "x" * 15, "007", "Ada_Lovelace_1"])
def test_usernames_of_1_to_15_word_characters_are_accepted(username: str) -> None:
    assert rules.check_registration(username, GOOD_PASSWORD, "") == ""


@pytest.mark.parametrize(
    ("username", "description"),
    [
        ("", "is required"),
        ("x" * 16, "must be 1 to 15 characters of letters A-Z, digits and '_'"),
        ("ada-l", "must be 1 to 15 characters of letters A-Z, digits and '_'"),
        ("ada l", "must be 1 to 15 characters of letters A-Z, digits and '_'"),
        ("adà", "must be 1 to 15 characters of letters A-Z, digits and '_'"),
        ("ada\n", "must be 1 to 15 characters of letters A-Z, digits and '_'"),
        ("@ada", "must be 1 to 15 characters of letters A-Z, digits and '_'"),
        ("me", "'me' is reserved"),
        ("ME", "'ME' is reserved"),
        ("Admin", "'Admin' is reserved"),
        ("settings", "'settings' is reserved"),
    ],
)
def test_bad_usernames_are_refused_with_the_rule(username: str, description: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        rules.check_registration(username, GOOD_PASSWORD, "")
    assert _violations(error) == [FieldViolation("username", description)]


def test_the_reserved_list_is_folded_and_contains_the_routes() -> None:
    assert all(word == fold(word) for word in rules.RESERVED_USERNAMES)
    assert {"me", "settings", "admin", "api", "help"} <= rules.RESERVED_USERNAMES


@pytest.mark.parametrize("password", ["x" * 8, "x" * 128, "pass word", "пароль-пароль", "🔑" * 8])
def test_passwords_of_8_to_128_characters_are_accepted(password: str) -> None:
    rules.check_registration("ada", password, "")


@pytest.mark.parametrize("password", ["", "x" * 7, "x" * 129])
def test_passwords_outside_8_to_128_characters_are_refused(password: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        rules.check_registration("ada", password, "")
    assert _violations(error) == [FieldViolation("password", "must be 8 to 128 characters long")]


def test_display_names_count_code_points_after_nfc() -> None:
    decomposed = "e\u0301" * 50  # 100 code points, 50 after NFC
    assert rules.check_registration("ada", GOOD_PASSWORD, decomposed) == "\u00e9" * 50
    assert rules.check_registration("ada", GOOD_PASSWORD, "🐦" * 50) == "🐦" * 50


@pytest.mark.parametrize(
    ("display_name", "description"),
    [
        ("x" * 51, "must be at most 50 characters"),
        ("Ada\nLovelace", "must not contain control characters"),
        ("Ada\u0000", "must not contain control characters"),
        ("Ada\u009b", "must not contain control characters"),
    ],
)
def test_bad_display_names_are_refused(display_name: str, description: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        rules.check_registration("ada", GOOD_PASSWORD, display_name)
    assert _violations(error) == [FieldViolation("display_name", description)]


def test_every_broken_rule_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as error:
        rules.check_registration("me", "short", "x" * 51)
    assert [violation.field for violation in _violations(error)] == [
        "username",
        "password",
        "display_name",
    ]


@pytest.mark.parametrize(
    ("paths", "values", "changes"),
    [
        ([], {"display_name": "Ada", "bio": ""}, {"display_name": "Ada"}),
        ([], {"display_name": "", "bio": "math"}, {"bio": "math"}),
        ([], {"display_name": "", "bio": ""}, {}),
        (["bio"], {"display_name": "ignored", "bio": ""}, {"bio": ""}),
        (["*"], {"display_name": "", "bio": ""}, {"display_name": "", "bio": ""}),
        (
            ["bio", "display_name", "bio"],
            {"display_name": "A", "bio": "B"},
            {"bio": "B", "display_name": "A"},
        ),
    ],
    ids=["no-mask-name", "no-mask-bio", "no-mask-nothing", "mask-clears", "star", "repeated"],
)
def test_the_update_mask_picks_the_fields_to_write(
    paths: list[str], values: dict[str, str], changes: dict[str, str]
) -> None:
    assert rules.profile_changes(paths, values) == changes


@pytest.mark.parametrize("path", ["username", "id", "create_time", "displayName", "follower_count"])
def test_paths_other_than_display_name_and_bio_are_refused(path: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        rules.profile_changes(["bio", path], {"display_name": "", "bio": ""})
    assert _violations(error) == [
        FieldViolation(
            "update_mask", f"'{path}' cannot be updated: only display_name and bio can change"
        )
    ]


@pytest.mark.parametrize(
    ("field", "value", "description"),
    [
        ("bio", "x" * 161, "must be at most 160 characters"),
        ("bio", "line\nbreak", "must not contain control characters"),
        ("display_name", "x" * 51, "must be at most 50 characters"),
        ("display_name", "tab\t", "must not contain control characters"),
    ],
)
def test_updated_values_follow_the_field_rules(field: str, value: str, description: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        rules.profile_changes([field], {field: value})
    assert _violations(error) == [FieldViolation(f"user.{field}", description)]


def test_a_bio_of_160_characters_is_accepted() -> None:
    assert rules.profile_changes(["bio"], {"bio": "ü" * 160}) == {"bio": "ü" * 160}
