"""SIGKILL the indexer in the middle of a stream of new tweets, start it again: every tweet
ends up in the index, once. The indexer runs in a process of its own (indexer_process.py: the
real indexer on a test consumer with a 3 s ack wait, and its own index folder); tweets are
posted through the gateway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import tantivy

from tests.integration.search.indexer_process import killable_consumer
from tests.integration.search.support import post
from tests.integration.streams import temporary_consumer
from tests.integration.tweets.tokens import random_user_id
from tests.polling import eventually
from tests.stack import GATEWAY

ROOT = Path(__file__).resolve().parents[3]
TWEETS = 60


@pytest.fixture
async def consumer() -> AsyncIterator[str]:
    async with temporary_consumer(
        killable_consumer(f"test-indexer-{uuid.uuid4().hex[:10]}")
    ) as name:
        yield name


def _start(name: str, root: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT}/gen"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.search.indexer_process", name, str(root)],
        cwd=ROOT,
        env=env,
    )


def _indexed(root: Path, word: str) -> list[int]:
    """The ids of the tweets with ``word`` the indexer has committed (read from another
    process, as a reader: no writer needed)."""
    if not (root / "tweets-1" / "meta.json").exists():
        return []
    index = tantivy.Index.open(str(root / "tweets-1"))
    query = tantivy.Query.term_query(index.schema, "text", word)
    hits = index.searcher().search(query, 1000, order_by_field="id").hits
    return sorted(int(value) for value, _ in hits)


async def test_a_killed_indexer_misses_no_event(
    tmp_path: Path, consumer: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    # The text field is stemmed and the test reads it with a plain term query: a word ending
    # in "x" is its own stem (one ending in "e" or "ed", as 7% of hex strings do, is not).
    word = f"kill{uuid.uuid4().hex[:8]}x"
    processes.append(_start(consumer, tmp_path))

    async def counted() -> list[int]:
        return _indexed(tmp_path, word)

    posted: list[int] = []
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:
        posted += [await post(http, random_user_id(), f"{word} {i}") for i in range(TWEETS // 2)]
        await eventually(counted, lambda found: len(found) > 0, 30)
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait()
        partial = len(_indexed(tmp_path, word))
        posted += [  # posted while no indexer runs
            await post(http, random_user_id(), f"{word} {i}") for i in range(TWEETS // 2, TWEETS)
        ]
        assert partial < TWEETS

        processes.append(_start(consumer, tmp_path))
        found = await eventually(counted, lambda found: len(found) >= TWEETS, 60)
    assert found == sorted(posted)  # every tweet, each once
