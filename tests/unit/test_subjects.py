"""The catalogue of events (``services/platform/subjects.py``) agrees with the stream, the
consumers and the contracts: every subject a consumer takes is in it, the stream holds every
subject in it, and each subject's type is the one its ``.proto`` file documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nats.js.api import ConsumerConfig

from services.platform.events import CONSUMERS, STREAM
from services.platform.subjects import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "proto" / "chirp" / "events" / "v1"
#: A subject's comment in a ``.proto`` file, and the message it documents.
DOCUMENTED = re.compile(r"^// Subject `([^`]+)`:.*?^message (\w+) \{", re.MULTILINE | re.DOTALL)


def _matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject pattern (``*`` one token, a last ``>`` one or more) matches."""
    wanted, tokens = pattern.split("."), subject.split(".")
    if wanted[-1] == ">" and len(tokens) >= len(wanted):
        wanted, tokens = wanted[:-1], tokens[: len(wanted) - 1]
    if len(wanted) != len(tokens):
        return False
    return all(w in ("*", t) for w, t in zip(wanted, tokens, strict=True))


def test_subject_patterns_match_as_nats_matches_them() -> None:
    assert _matches("tweets.>", "tweets.created")
    assert _matches("tweets.*", "tweets.created")
    assert not _matches("tweets.>", "tweets")
    assert not _matches("tweets.>", "users.created")
    assert not _matches("tweets.created", "tweets.edited")


@pytest.mark.parametrize("config", CONSUMERS, ids=lambda config: config.durable_name)
def test_every_subject_a_consumer_takes_is_in_the_catalogue(config: ConsumerConfig) -> None:
    subjects = config.filter_subjects or []
    assert subjects
    assert [subject for subject in subjects if subject not in CATALOGUE] == []


def test_the_stream_holds_every_subject_of_the_catalogue() -> None:
    patterns = STREAM.subjects or []
    assert [s for s in CATALOGUE if not any(_matches(p, s) for p in patterns)] == []


def test_each_subject_carries_the_message_its_contract_documents() -> None:
    """Each ``// Subject `name`: ...`` comment in proto/chirp/events/v1 and the message below it."""
    documented = {
        subject: message
        for path in sorted(PROTOS.glob("*.proto"))
        for subject, message in DOCUMENTED.findall(path.read_text())
    }
    assert len(documented) == len(CATALOGUE)
    assert {name: s.type.DESCRIPTOR.name for name, s in CATALOGUE.items()} == documented
