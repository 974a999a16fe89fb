"""The README's curl session, run as it is written against the local stack's gateway.

Covered: every ``$ `` line (with its ``\\`` continuation lines) of the ``sh`` blocks of the
README's section "A session with curl", in order, in one bash process (``set -euo pipefail``)
whose working directory is a fresh temporary directory, as a reader pasting them would: the
variables a line sets (``N``, ``field``, ``TOKEN``, ``TWEET``, ``MEDIA``...) and the file it
writes (``chirp.jpg``) serve the lines after it. Not covered: the other sections' commands
(``make ...``; ``.cache/bin/grpcurl ...`` is tests/e2e/test_grpc_tools.py's).

Each line must succeed and print what the README shows under it (nothing, when it shows
nothing), where in both ids and other numbers of six digits or more (the usernames' suffix),
times and SHA-256 hashes stand for any value of their kind, and ``…`` for any text. Reads fed
by events (home timeline, search) are asked again until they answer as shown, for up to
``SETTLE_SECONDS``; the trends line only has to answer a list of trends, since what trends
depends on what the stack holds. ``LESSONS`` lists what the session must go on teaching, each
as a command of the session and what its answer says (the taken username is 409's
ALREADY_EXISTS, a delete without a token UNAUTHENTICATED, the deleted tweet NOT_FOUND, the
followed author's tweet in the home timeline...), so dropping one from the README fails too.

Limits: a run makes two new accounts (a sign-in each; one is exported and deleted at the end),
three posts, a follow and three uploads, far below every per-account limit (gateway/README.md);
the gateway's per-address limits exempt loopback. The usernames end with the epoch second the
session started at, so runs never share an account.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## A session with curl"
#: Paths whose answers follow events (fanout, indexing, a video's processing): asked again
#: until they match.
EVENTUAL_PATHS = ("/v1/timelines/", "/v1/search/", "/v1/media/")
SETTLE_SECONDS = 20.0
#: Paths whose shown answer is an illustration of the shape only.
ILLUSTRATED_PATHS = ("/v1/trends",)
COMMAND_SECONDS = 30.0

#: What the session teaches: (what, a command of the session, what its answer holds).
LESSONS: tuple[tuple[str, str, str], ...] = (
    ("sign up", r'/v1/users\b.*"username": "grace', '"displayName":"Grace Hopper"'),
    ("a username is unique in any case", r'"username": "GRACE', r'"code":6,.*is taken'),
    ("sign in", r"^TOKEN=\$\(curl .*/v1/sessions", r"^$"),
    ("post", r"^TWEET=\$\(curl .*/v1/tweets", r'"hashtags":\[\{"start":14,"end":25'),
    ("like", r"\}:like ", r'"likeCount":"1"'),
    ("a user timeline", r"/v1/users/grace\$N/tweets", r'"tweets":\[\{.*"likeCount":"1"'),
    ("edit", r"-XPATCH", r'"text":"Hello, Chirp! \(edited\) #firsttweet".*"editTime"'),
    ("an edit's history", r"/history$", r'"versionNumber":1,"text":"Hello, Chirp! #first'),
    ("no delete without a token", r"^curl -s -XDELETE localhost", r'^\{"code":16,'),
    ("delete", r"-XDELETE -H", r"^\{\}$"),
    ("a deleted tweet is gone", r"^curl -s localhost:8080/v1/tweets/\$TWEET$", r'"code":5,'),
    ("follow", r":follow ", r'"following":true'),
    ("the home timeline", r"/v1/timelines/home", r'"tweets":\[\{.*"text":"Compilers are just'),
    ("a profile's counts", r"/v1/users/grace\$N$", r'"followerCount":"1".*"tweetCount":"1"'),
    ("upload a photo", r"--data-binary @chirp\.jpg", r'"contentType":"image/jpeg","width":64'),
    ("a tweet with a photo", r'"mediaIds"', r'"media":\[\{"id"'),
    (
        "a photo's headers",
        r"-D - localhost",
        r"^HTTP/1.1 200 OK\s.*\scache-control: public, max-age=",
    ),
    (
        "not a photo",
        r"--data-binary 'hello'",
        r'"code":3,"message":"content: must be a photo \(JPEG',
    ),
    (
        "upload a video",
        r"--data-binary @clip\.mp4",
        r'"kind":"KIND_VIDEO","state":"STATE_PROCESSING"',
    ),
    (
        "a video processed",
        r"/v1/media/\$VIDEO$",
        r'"contentType":"video/mp4".*"state":"STATE_READY"',
    ),
    (
        "seek in a video",
        r"Range: bytes=0-99",
        r"^HTTP/1.1 206 Partial Content\s.*content-range: bytes 0-99/",
    ),
    ("search tweets", r"search/tweets\?q=%23debugging", r'"text":"The first bug, taped'),
    ("a bad query", r"%22unclosed", r'"code":3,"message":"q: has an unbalanced double quote'),
    ("search users", r"/v1/search/users", r'"users":\[\{.*"displayName":"Grace Hopper"'),
    ("trends", r"/v1/trends", r'^\{"trends":\['),
    ("an archive's files", r"zipfile", r"^README\.txt account\.json tweets\.json likes\.json"),
    ("leave", r"/v1/users/me -d", r"^\{\}$"),
    ("a deleted account is gone", r"/v1/users/alan\$N$", r'"code":5,"message":"there is no'),
)

#: Values that change from run to run, and what they are compared as.
_VARYING = (
    (re.compile(r'"[0-9a-f]{64}"'), '"<sha256>"'),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"), "<time>"),
    (re.compile(r"\d{6,}"), "<number>"),
)
_ELLIPSIS = re.compile(r"\s*…\s*")


@dataclass
class Step:
    """A ``$ `` command of the README, where it is, and what the README shows it answers."""

    line: int
    command: str
    shown: str = ""


def session_steps(readme: str) -> list[Step]:
    """The ``$ `` commands of the section's ``sh`` blocks, in order, with their shown output."""
    steps: list[Step] = []
    in_section = in_block = continued = False
    for number, line in enumerate(readme.splitlines(), start=1):
        if line.startswith("## "):
            in_section = line == SECTION
        elif not in_section:
            continue
        elif line.startswith("```"):
            in_block = line == "```sh"
        elif not in_block:
            continue
        elif continued:
            steps[-1].command += "\n" + line
            continued = line.endswith("\\")
        elif line.startswith("$ "):
            steps.append(Step(number, line.removeprefix("$ ")))
            continued = line.endswith("\\")
        else:
            assert steps, f"README.md:{number}: output before any command"
            steps[-1].shown += line + "\n"
    return steps


def _normalized(text: str) -> str:
    text = text.replace("\r\n", "\n").strip()
    for pattern, stand_in in _VARYING:
        text = pattern.sub(stand_in, text)
    return text


def answers_as_shown(answer: str, shown: str) -> bool:
    parts = _ELLIPSIS.split(_normalized(shown))
    pattern = re.compile(".*?".join(re.escape(part) for part in parts), re.DOTALL)
    return pattern.fullmatch(_normalized(answer)) is not None


def _reads(command: str) -> bool:
    """A plain GET: asking again changes nothing."""
    return not re.search(r"\s(-X|-d|--data)", command)


class Shell:
    """One bash process that runs commands one at a time and hands back what each printed."""

    def __init__(self, cwd: Path) -> None:
        self._end = f"--- the command ended {uuid.uuid4().hex}"
        env = {name: value for name, value in os.environ.items() if name != "BASH_ENV"}
        self._bash = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.run("set -euo pipefail")

    def _read(self) -> None:
        assert self._bash.stdout is not None
        for line in self._bash.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def run(self, command: str, where: str = "") -> str:
        """What ``command`` printed (stdout and stderr); fails, saying ``where`` the command is
        from, if it fails or does not end."""
        assert self._bash.stdin is not None
        # A group, so that what it sets stays set; stdin is not the script's.
        self._bash.stdin.write(
            f"{{ {command}\n}} </dev/null 2>&1\nprintf '\\n%s\\n' '{self._end}'\n"
        )
        self._bash.stdin.flush()
        printed: list[str] = []
        deadline = time.monotonic() + COMMAND_SECONDS
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"{where}no end after {COMMAND_SECONDS} s: $ {command}\n{''.join(printed)}"
                ) from None
            if line is None:
                status = self._bash.wait()
                raise AssertionError(
                    f"{where}failed (bash exited, status {status}): $ {command}\n{''.join(printed)}"
                )
            if line.rstrip("\n") == self._end:
                return "".join(printed).removesuffix("\n")
            printed.append(line)

    def close(self) -> None:
        if self._bash.stdin is not None:
            self._bash.stdin.close()
        try:
            self._bash.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._bash.kill()
            self._bash.wait()
        self._reader.join(timeout=5)
        if self._bash.stdout is not None:
            self._bash.stdout.close()


@contextmanager
def shell(cwd: Path) -> Iterator[Shell]:
    bash = Shell(cwd)
    try:
        yield bash
    finally:
        bash.close()


def run_step(bash: Shell, step: Step) -> str:
    """The step's answer, asked again while an eventual read does not answer as shown yet."""
    where = f"README.md:{step.line}: "
    answer = bash.run(step.command, where)
    if any(path in step.command for path in ILLUSTRATED_PATHS):
        return answer
    eventual = _reads(step.command) and any(path in step.command for path in EVENTUAL_PATHS)
    deadline = time.monotonic() + SETTLE_SECONDS
    while eventual and not answers_as_shown(answer, step.shown) and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = bash.run(step.command, where)
    assert answers_as_shown(answer, step.shown), (
        f"{where}$ {step.command}\nanswered:\n{answer}\nthe README shows:\n{step.shown}"
    )
    return answer


def test_the_readme_parser_sees_commands_continuations_and_outputs() -> None:
    readme = (
        "## Before\n```sh\n$ not this\n```\n"
        f"{SECTION}\n\ntext\n```sh\n$ a \\\n    b\nshown\n$ c\n```\n"
        "```\n$ not in an sh block\n```\n## After\n```sh\n$ nor this\n```\n"
    )
    assert session_steps(readme) == [Step(9, "a \\\n    b", "shown\n"), Step(12, "c")]


def test_answers_compare_as_shown_with_varying_values_and_ellipses() -> None:
    shown = '{"id":"117555724388679680", … ,"likeCount":"1", … }'
    assert answers_as_shown('{"id":"9007199254740993","x":1,"likeCount":"1","y":2}', shown)
    assert not answers_as_shown('{"id":"9007199254740993","likeCount":"2"}', shown)
    assert answers_as_shown("HTTP/1.1 200 OK\r\netag: x\r\n\r\n", "HTTP/1.1 200 OK\n…")
    assert not answers_as_shown('{"code":5}', "")


def test_the_readme_session_runs_as_pasted(tmp_path: Path) -> None:
    assert shutil.which("curl"), "the README's session needs curl"
    steps = session_steps(README.read_text(encoding="utf-8"))
    for what, command, _ in LESSONS:
        assert any(re.search(command, step.command, re.MULTILINE | re.DOTALL) for step in steps), (
            f"the README's curl session no longer shows how to {what} ({command})"
        )
    answers: list[str] = []
    with shell(tmp_path) as bash:
        answers.extend(run_step(bash, step) for step in steps)

    for what, command, answer in LESSONS:
        for step, got in zip(steps, answers, strict=True):
            if re.search(command, step.command, re.MULTILINE | re.DOTALL):
                assert re.search(answer, got, re.DOTALL), f"{what}: README.md:{step.line}\n{got}"
    (trends,) = [
        got
        for step, got in zip(steps, answers, strict=True)
        if ILLUSTRATED_PATHS[0] in step.command
    ]
    assert all({"name", "kind", "query"} <= trend.keys() for trend in json.loads(trends)["trends"])
