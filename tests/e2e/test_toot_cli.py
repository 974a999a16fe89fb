"""The ``toot`` command-line client (pinned as a test dependency) against the gateway, as a
person uses it: log in, post, read the home timeline, whois, follow, search."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.stack import GATEWAY

PASSWORD = "correct horse battery"  # noqa: S105  (a test account's)
TOOT = Path(sys.executable).with_name("toot")


class Toot:
    """toot with a configuration folder of its own (where it keeps its login)."""

    def __init__(self, home: Path) -> None:
        self._env = {**os.environ, "XDG_CONFIG_HOME": str(home)}

    def __call__(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [str(TOOT), "--no-color", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self._env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"toot {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


def _register() -> str:
    username = "tt" + uuid.uuid4().hex[:12]
    created = httpx.post(
        f"{GATEWAY}/v1/users", json={"username": username, "password": PASSWORD}, timeout=15
    )
    assert created.status_code == 200, created.text
    return username


@pytest.fixture
def toot(tmp_path: Path) -> tuple[Toot, str]:
    """toot logged in as a new account (``login_cli``: the password grant, the password on
    standard input as a person would type it)."""
    username = _register()
    client = Toot(tmp_path)
    logged_in = client("login_cli", "--instance", GATEWAY, "--email", username, stdin=PASSWORD)
    assert "Successfully logged in" in logged_in
    return client, username


def test_toot_posts_and_reads_its_home_timeline(toot: tuple[Toot, str]) -> None:
    client, username = toot
    text = f"Hello from toot {uuid.uuid4().hex[:8]} #chirp"
    posted = client("post", text)
    assert posted.startswith(f"Toot posted: http://localhost:8080/@{username}/")
    home = client("timelines", "home")
    assert text in home
    assert f"@{username}" in home


def test_toot_whois_follow_and_search(toot: tuple[Toot, str]) -> None:
    client, _ = toot
    other = _register()
    whois = client("whois", other)
    assert f"@{other}" in whois
    assert "Followers: 0" in whois
    assert "You are now following" in client("follow", other)
    assert f"* @{other}" in client("following", toot[1])
    assert f"* @{other}" in client("search", other)
