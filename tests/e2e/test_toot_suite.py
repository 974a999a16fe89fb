"""The integration tests that ship in toot's source distribution, run against Chirp as toot's
authors run them against a Mastodon server (``TOOT_TEST_BASE_URL``), minus those that need what
Chirp does not have. The source distribution is fetched from PyPI, pinned by its SHA-256, and
kept in ``.cache`` (toot is GPL-3.0: it is run here, never shipped)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest

from devstack.paths import CACHE
from tests.stack import GATEWAY

VERSION = "0.52.1"
SDIST = f"toot-{VERSION}.tar.gz"
SHA256 = "b737173be5587522077c18c4024eb1741a4a30e59d3165e72fd6ce4519d2fecb"
SIMPLE_INDEX = "https://pypi.org/simple/toot/"
#: What Chirp does not have, by reason (the README's "Use a Mastodon app with Chirp" lists
#: them): a file, or a test of a file.
OUT_OF_SCOPE = {
    "lists of accounts": [
        "test_lists.py::test_list_create_delete", "test_lists.py::test_list_create_delete_json",
        "test_lists.py::test_list_add_remove", "test_lists.py::test_list_add_remove_json",
        "test_timelines.py::test_timelines", "test_timelines.py::test_timelines_v2"],
    "polls": [
        "test_polls.py", "test_post.py::test_post_poll", "test_post.py::test_post_poll_multiple",
        "test_post.py::test_post_poll_expires_in", "test_post.py::test_post_poll_hide_totals"],
    "profile images, flags and posting defaults (a Chirp profile is a name and a bio)": [
        f"test_update_account.py::test_update_account_{field}"
        for field in ("language", "privacy", "avatar", "header", "locked", "bot",
                      "discoverable", "sensitive")],
    "followed and featured hashtags, and a directory of hashtags to search": [
        "test_tags.py", "test_read.py::test_search_hashtag",
        "test_read.py::test_search_hashtag_json"],
    "mutes and blocks": [
        f"test_accounts.py::test_{what}{how}"
        for what in ("mute", "block") for how in ("", "_case_insensitive", "_json")],
    "pins and bookmarks": [
        "test_status.py::test_pin", "test_status.py::test_pin_json",
        "test_status.py::test_bookmark", "test_status.py::test_bookmark_json",
        "test_timelines.py::test_bookmarks"],
    "notifications": [
        "test_timelines.py::test_notifications", "test_timelines.py::test_notifications_follow"],
    "visibility, languages and scheduled posts": [
        "test_post.py::test_post_visibility", "test_post.py::test_post_language",
        "test_post.py::test_post_scheduled_at", "test_post.py::test_post_scheduled_at_error",
        "test_post.py::test_post_scheduled_in"],
    "video (a thumbnail of an uploaded video)": ["test_post.py::test_media_thumbnail"],
    "a server at http://localhost:3000 (the login tests' fixed address)": [
        "test_auth.py::test_login_cli", "test_auth.py::test_login_cli_wrong_password"],
}  # fmt: skip
#: How many of toot's tests run here, all of which must pass.
IN_SCOPE = 63


def _suite() -> Path:
    """toot's integration tests, unpacked once from the pinned source distribution."""
    folder = CACHE / f"toot-{VERSION}"
    if not (folder / "tests" / "integration").is_dir():
        index = httpx.get(
            SIMPLE_INDEX,
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            follow_redirects=True,
            timeout=30,
        ).json()
        (url,) = [entry["url"] for entry in index["files"] if entry["filename"] == SDIST]
        data = httpx.get(url, follow_redirects=True, timeout=120).content
        assert hashlib.sha256(data).hexdigest() == SHA256, f"{SDIST} is not the pinned one"
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            archive.extractall(folder.parent, filter="data")
    return folder


def _in_scope(folder: Path) -> list[str]:
    """The node ids of the tests to run: every collected one but a named test or the tests of
    a named file (named exactly: pytest's ``--deselect`` would take a name as a prefix)."""
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
         "tests/integration"],
        cwd=folder, capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    named = {f"tests/integration/{name}" for names in OUT_OF_SCOPE.values() for name in names}
    return [
        node
        for node in collected
        if "::" in node and node not in named and node.split("::")[0] not in named
    ]


@pytest.mark.timeout(600)
def test_toots_own_integration_tests_pass_against_chirp() -> None:
    folder = _suite()
    tests = _in_scope(folder)
    assert len(tests) == IN_SCOPE
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-W", "ignore", *tests],
        cwd=folder, capture_output=True, text=True, timeout=540, check=False,
        env={"PATH": "/usr/bin:/bin", "TOOT_TEST_BASE_URL": GATEWAY, "HOME": str(folder)},
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert summary.startswith(f"{IN_SCOPE} passed"), summary
