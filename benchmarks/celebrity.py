"""``python -m benchmarks.celebrity [--followers N]``: an account with a million followers, for
the followers pages at celebrity scale.

A real account (registered through the gateway: ListFollowers takes a username) followed by
``N`` generated users, bulk loaded straight into Neo4j as the bench graph is
(``follow_graph.py``): one ``UNWIND`` batch per transaction creating each follower with its edge
(create_time spread over the year before ``EPOCH_MILLIS``, ``followee`` and ``rank`` as the graph
service writes them). Every node carries ``:BenchUser``, so ``python -m benchmarks.follow_graph
--drop`` removes it all; the ``:BenchCelebrity`` node records what was loaded, and a later run
finds it and loads nothing.

The generated followers are no accounts, and a page of ids no account has would make the
users service look every one of them up in Cassandra, which no production page does. So the
two pages the benchmark reads, the first and page ``DEEP_PAGE``, are real accounts registered
through the gateway (hydrated from the users cache, as in production): the newest hundred
followers, and a hundred placed right after the first ``(DEEP_PAGE - 1) * PAGE_SIZE``
followers (the generated followers older than them are a second older still, so nothing falls
between).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import LiteralString

from neo4j import Driver

from benchmarks import follow_graph
from services.graph.adapters.store import follow_rank, rank_below, ranked
from services.platform.paging import encode_token

FOLLOWERS = 1_000_000
PAGE_SIZE = 100
#: The deep page measured (page 1 is the first).
DEEP_PAGE = 5_000
#: How much older than the deep page's accounts the generated followers after them are.
GAP_MILLIS = 1_000
#: Generated followers' ids start here, above the bench graph's.
ID_BASE = follow_graph.BENCH_ID_BASE + 100_000_000
SEED = 2

_ACCOUNT: LiteralString = """
MERGE (c:User {id: $id})
SET c:BenchUser, c.follower_count = 0, c.following_count = 0
"""
_GENERATED: LiteralString = """
MATCH (c:User {id: $id})
UNWIND $rows AS row
CREATE (:User:BenchUser {id: row[0], following_count: 1})
       -[:FOLLOWS {create_time: row[1], followee: $id, rank: row[2]}]->(c)
"""
_REAL: LiteralString = """
MATCH (c:User {id: $id})
UNWIND $rows AS row
MERGE (a:User {id: row[0]})
SET a:BenchUser, a.following_count = coalesce(a.following_count, 0) + 1
CREATE (a)-[:FOLLOWS {create_time: row[1], followee: $id, rank: row[2]}]->(c)
"""
_META: LiteralString = """
MATCH (c:User {id: $id})
SET c.follower_count = $followers
CREATE (:BenchCelebrity {id: $id, username: $username, followers: $followers,
                         load_seconds: $load_seconds})
"""
#: The rank the page after ``$skip`` followers starts below (read off the index, in its order).
_RANK_AT: LiteralString = """
MATCH ()-[f:FOLLOWS]->()
WHERE f.followee = $id AND f.rank < $first
WITH f ORDER BY f.followee DESC, f.rank DESC
SKIP $skip LIMIT 1
RETURN f.rank AS rank
"""


@dataclass(frozen=True)
class Celebrity:
    id: int
    username: str
    followers: int
    load_seconds: float

    def page_token(self, neo4j: Driver, page: int, page_size: int) -> str:
        """The token of followers page ``page`` (1 is the first) of ``page_size``, as the graph
        service would have issued it on the page before."""
        if page == 1:
            return ""
        records, _, _ = neo4j.execute_query(
            _RANK_AT, id=self.id, first=rank_below(None), skip=(page - 1) * page_size - 1
        )
        last = ranked(records[0]["rank"])
        return encode_token("followers", self.id, [last.create_time, last.user_id])


def loaded(neo4j: Driver) -> Celebrity | None:
    records, _, _ = neo4j.execute_query("MATCH (c:BenchCelebrity) RETURN c LIMIT 1")
    if not records:
        return None
    node = records[0]["c"]
    return Celebrity(node["id"], node["username"], node["followers"], node["load_seconds"])


def _row(follower_id: int, create_time: int) -> follow_graph.Row:
    return [follower_id, create_time, follow_rank(create_time, follower_id)]


def _drawn_times(count: int) -> list[int]:
    """Follow times for ``count`` generated followers, newest first."""
    rng = random.Random(SEED)  # noqa: S311 (the same followers every time, not a secret)
    year = follow_graph.YEAR_MILLIS
    return sorted(
        (follow_graph.EPOCH_MILLIS - rng.randrange(year) for _ in range(count)), reverse=True
    )


def load(neo4j: Driver, followers: int = FOLLOWERS) -> Celebrity:
    """The celebrity, loaded first if it is not yet."""
    if ID_BASE + followers > follow_graph.BENCH_ID_END:
        raise ValueError(f"{followers:,} followers would leave the generated id range")
    found = loaded(neo4j)
    if found is not None:
        return found
    accounts = follow_graph.register_accounts(1 + 2 * PAGE_SIZE)
    (celebrity_id, username), newest, deep = (
        accounts[0],
        [user_id for user_id, _ in accounts[1 : 1 + PAGE_SIZE]],
        [user_id for user_id, _ in accounts[1 + PAGE_SIZE :]],
    )
    # Generated followers before the deep page: all but the first page's real accounts.
    deep_at = (DEEP_PAGE - 1) * PAGE_SIZE - PAGE_SIZE
    started = time.monotonic()
    with neo4j.session() as session:
        session.run(_ACCOUNT, id=celebrity_id).consume()
        times = _drawn_times(followers - 2 * PAGE_SIZE)
        # Generated followers from ``deep_at`` on are a little older: the deep page goes between.
        generated = (
            _row(ID_BASE + index, create_time - (GAP_MILLIS if index >= deep_at else 0))
            for index, create_time in enumerate(times)
        )
        for number, batch in enumerate(follow_graph.batches(generated, follow_graph.EDGE_BATCH), 1):
            session.execute_write(follow_graph.write, _GENERATED, batch, id=celebrity_id)
            if number % 20 == 0:
                done = number * follow_graph.EDGE_BATCH
                print(f"  {done:,} followers, {done / (time.monotonic() - started):,.0f}/s")
        real = [_row(user, follow_graph.EPOCH_MILLIS + 1 + k) for k, user in enumerate(newest)]
        real += [_row(user, times[deep_at - 1] - 1 - k) for k, user in enumerate(deep)]
        session.execute_write(follow_graph.write, _REAL, real, id=celebrity_id)
        seconds = time.monotonic() - started
        session.run(
            _META, id=celebrity_id, username=username, followers=followers, load_seconds=seconds
        ).consume()
    print(f"@{username} (id {celebrity_id}): {followers:,} followers loaded in {seconds:.1f}s")
    return Celebrity(celebrity_id, username, followers, seconds)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.celebrity", description=__doc__)
    parser.add_argument("--followers", type=int, default=FOLLOWERS)
    args = parser.parse_args(argv)
    with follow_graph.driver() as neo4j:
        load(neo4j, args.followers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
