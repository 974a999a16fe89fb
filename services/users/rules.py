"""The rules of account fields, as plain functions that raise ``InvalidArgument``.

Each violation names the request field (its proto name) and the rule it breaks, and a request
breaking several rules hears about all of them at once.

Decisions:

* Usernames are 1-15 ASCII letters, digits or underscores, compared case-insensitively (the
  folded form is the key of ``users_by_username``) and shown as registered.
* Reserved usernames are refused: ``me`` (it is a route, ``/v1/users/me``), the other words of
  the HTTP surface, and names that would let an account pass for the service or its staff.
* Passwords are 8-128 characters of anything (spaces and emoji included): the lower bound keeps
  out the weakest, the upper bound keeps hashing cost and request size bounded.
* Display names (at most 50) and bios (at most 160) are NFC-normalized and counted in code
  points, like tweet text; control characters (Unicode category Cc, newlines included) are
  refused so a profile renders on one line wherever it is shown.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.usernames import USERNAME_MAX, fold, is_username

PASSWORD_MIN = 8
PASSWORD_MAX = 128
DISPLAY_NAME_MAX = 50
BIO_MAX = 160

#: Folded names no account may take. Kept short on purpose: routes of the HTTP surface and
#: words that would impersonate the service; extend it before a name becomes a route.
RESERVED_USERNAMES = frozenset(
    {
        # routes: /v1/users/me, and words that are or may become paths
        "me",
        "api",
        "settings",
        "help",
        "home",
        "search",
        "explore",
        "notifications",
        "messages",
        "login",
        "logout",
        "signup",
        "sessions",
        "users",
        "tweets",
        "trends",
        "media",
        # the service and its staff
        "admin",
        "administrator",
        "root",
        "system",
        "support",
        "security",
        "chirp",
        "official",
    }
)

#: The profile fields a user can change (UpdateCurrentUser); everything else is fixed.
EDITABLE_FIELDS = ("display_name", "bio")
FULL_MASK = "*"


def username_violation(username: str, field: str = "username") -> FieldViolation | None:
    if not username:
        return FieldViolation(field, "is required")
    if not is_username(username):
        return FieldViolation(
            field, f"must be 1 to {USERNAME_MAX} characters of letters A-Z, digits and '_'"
        )
    return None


def check_registration(username: str, password: str, display_name: str) -> str:
    """Raises on any broken rule; returns the display name as it is stored (NFC)."""
    violations = [
        violation
        for violation in (
            username_violation(username),
            _reserved_violation(username),
            _password_violation(password),
        )
        if violation is not None
    ]
    stored_name, name_violation = _text("display_name", display_name, DISPLAY_NAME_MAX)
    if name_violation is not None:
        violations.append(name_violation)
    if violations:
        raise InvalidArgument(*violations)
    return stored_name


def check_username(username: str, field: str = "username") -> None:
    violation = username_violation(username, field)
    if violation is not None:
        raise InvalidArgument(violation)


def profile_changes(mask_paths: Sequence[str], values: Mapping[str, str]) -> dict[str, str]:
    """The fields an update writes (AIP-134), validated and normalized.

    ``values`` holds every editable field as sent. No mask means every field sent with a
    non-empty value; ``*`` means every editable field, so an empty value clears it; any other
    path must name an editable field.
    """
    if not mask_paths:
        chosen: Iterable[str] = [field for field in EDITABLE_FIELDS if values.get(field)]
    elif list(mask_paths) == [FULL_MASK]:
        chosen = EDITABLE_FIELDS
    else:
        unknown = [path for path in mask_paths if path not in EDITABLE_FIELDS]
        if unknown:
            raise InvalidArgument(
                *(
                    FieldViolation(
                        "update_mask",
                        f"'{path}' cannot be updated: only display_name and bio can change",
                    )
                    for path in unknown
                )
            )
        chosen = dict.fromkeys(mask_paths)  # ordered, each once
    limits = {"display_name": DISPLAY_NAME_MAX, "bio": BIO_MAX}
    changes: dict[str, str] = {}
    violations = []
    for field in chosen:
        stored, violation = _text(f"user.{field}", values.get(field, ""), limits[field])
        if violation is not None:
            violations.append(violation)
        changes[field] = stored
    if violations:
        raise InvalidArgument(*violations)
    return changes


def _reserved_violation(username: str) -> FieldViolation | None:
    if fold(username) in RESERVED_USERNAMES:
        return FieldViolation("username", f"'{username}' is reserved")
    return None


def _password_violation(password: str) -> FieldViolation | None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return FieldViolation(
            "password", f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long"
        )
    return None


def _text(field: str, value: str, limit: int) -> tuple[str, FieldViolation | None]:
    normalized = unicodedata.normalize("NFC", value)
    if len(normalized) > limit:
        return normalized, FieldViolation(field, f"must be at most {limit} characters")
    if any(unicodedata.category(character) == "Cc" for character in normalized):
        return normalized, FieldViolation(field, "must not contain control characters")
    return normalized, None
