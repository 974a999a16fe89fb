"""``python -m benchmarks.follow_graph [--users N] [--follows M] [--seed S] [--drop]``: a
power-law follow graph, generated here and loaded straight into Neo4j.

Each follow's followee is drawn from a Zipf distribution over users (weight 1/rank^alpha), its
follower uniformly; self-follows and duplicate pairs are drawn again. At the default size
(100,000 users, 2,000,000 follows, alpha 1.1) the four most followed accounts end with over
50,000 followers each. The same seed gives the same graph.

The data never mixes with real accounts: generated users have ids ``BENCH_ID_BASE + n`` and
every node the benchmark writes carries the extra label ``:BenchUser``; ``--drop`` removes
exactly that. Some accounts are special:

- the ``NAMED_TOP`` most followed users and the ``NAMED_FOLLOWERS`` newest followers of the
  most followed one are real accounts registered through the gateway (``bench_xxxxxxxxx``):
  ListFollowers takes a username, and ListFollowers and ListSuggestedUsers hydrate their pages
  through the users service, which knows only real accounts. So the first page of followers and
  the best suggestions are real users, as in production. ``--drop`` removes their bench edges
  and label but keeps their nodes (recounted), like their accounts.
- the last user, the *caller*, follows exactly ``CALLER_FOLLOWS`` accounts drawn from the same
  Zipf distribution: the account ListSuggestedUsers is measured for (with a token minted for
  its id, see ``benchmarks/tokens.py``).

Loading goes through Neo4j's bulk path: ``UNWIND $rows`` batches, nodes first (with
follower_count and following_count already set), then edges with their create_time.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
import uuid
from array import array
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import LiteralString

import httpx
from neo4j import Driver, ManagedTransaction

from benchmarks.common import GATEWAY
from services.graph.adapters.store import follow_rank
from services.platform import graph_db
from services.platform.settings import StoreSettings

#: A row of a load query: ids, counts, times and ranks.
Row = Sequence[int | str]

BENCH_ID_BASE = 9_000_000_000_000_000
#: Generated ids stay below this; real (Snowflake) ids of today are far above it.
BENCH_ID_END = BENCH_ID_BASE + 1_000_000_000
CALLER_FOLLOWS = 50
NAMED_TOP = 100
NAMED_FOLLOWERS = 100
CELEBRITY_THRESHOLD = 50_000
#: create_time of the follows: spread over the year before this instant (2026-01-01T00:00Z).
EPOCH_MILLIS = 1_767_225_600_000
YEAR_MILLIS = 365 * 24 * 3600 * 1000
NODE_BATCH = 20_000
EDGE_BATCH = 10_000  # ~1 MB of rows per transaction: small for Neo4j's 512 MiB heap


@dataclass(frozen=True)
class Size:
    users: int = 100_000
    follows: int = 2_000_000
    seed: int = 1
    alpha: float = 1.1


@dataclass
class FollowGraph:
    """Follows as parallel arrays of user indexes (0..users-1), plus per-user counts."""

    size: Size
    followers: array[int]
    followees: array[int]
    create_times: array[int]
    follower_counts: array[int]
    following_counts: array[int]

    @property
    def caller(self) -> int:
        return self.size.users - 1

    def top(self, count: int) -> list[int]:
        """Indexes of the ``count`` most followed users, most followed first."""
        return sorted(
            range(self.size.users), key=lambda user: self.follower_counts[user], reverse=True
        )[:count]

    def newest_followers(self, followee: int, count: int) -> list[int]:
        """Indexes of the ``count`` users who followed ``followee`` last, newest first."""
        follows = [
            (self.create_times[i], self.followers[i])
            for i in range(len(self.followees))
            if self.followees[i] == followee
        ]
        return [follower for _, follower in sorted(follows, reverse=True)[:count]]

    def named(self) -> list[int]:
        """The users who get real accounts: the most followed ones and the newest followers of
        the most followed one (its first page); the most followed user comes first."""
        top = self.top(NAMED_TOP)
        return list(dict.fromkeys([*top, *self.newest_followers(top[0], NAMED_FOLLOWERS)]))


def generate(size: Size) -> FollowGraph:
    users = size.users
    if users < CALLER_FOLLOWS * 2 or size.follows > users * (users - 1) // 2:
        raise ValueError("too few users for that many follows")
    rng = random.Random(size.seed)  # noqa: S311 (reproducible test data, not secrets)
    weights = list(itertools.accumulate(1 / rank**size.alpha for rank in range(1, users + 1)))
    candidates = range(users)
    caller = users - 1
    pairs: set[int] = set()  # follower * users + followee

    # The caller first: exactly CALLER_FOLLOWS distinct accounts, Zipf-drawn like everyone's.
    while len(pairs) < CALLER_FOLLOWS:
        (followee,) = rng.choices(candidates, cum_weights=weights)
        if followee != caller:
            pairs.add(caller * users + followee)
    while len(pairs) < size.follows:
        missing = size.follows - len(pairs)
        for followee in rng.choices(candidates, cum_weights=weights, k=missing + missing // 10):
            follower = rng.randrange(users - 1)  # the caller follows no one else
            if follower != followee:
                pairs.add(follower * users + followee)
                if len(pairs) == size.follows:
                    break

    followers, followees, create_times = array("q"), array("q"), array("q")
    follower_counts, following_counts = array("q", bytes(8 * users)), array("q", bytes(8 * users))
    for pair in sorted(pairs):
        follower, followee = divmod(pair, users)
        followers.append(follower)
        followees.append(followee)
        create_times.append(EPOCH_MILLIS - rng.randrange(YEAR_MILLIS))
        following_counts[follower] += 1
        follower_counts[followee] += 1
    return FollowGraph(size, followers, followees, create_times, follower_counts, following_counts)


# --- Neo4j --------------------------------------------------------------------------------

_NODES: LiteralString = """
UNWIND $rows AS row
MERGE (u:User {id: row[0]})
SET u:BenchUser, u.follower_count = row[1], u.following_count = row[2]
"""
_EDGES: LiteralString = """
UNWIND $rows AS row
MATCH (a:User {id: row[0]})
MATCH (b:User {id: row[1]})
CREATE (a)-[:FOLLOWS {create_time: row[2], followee: row[1], rank: row[3]}]->(b)
"""
_META: LiteralString = """
CREATE (:BenchGraph {users: $users, follows: $follows, seed: $seed, alpha: $alpha,
                     top_id: $top_id, top_username: $top_username, caller_id: $caller_id,
                     load_seconds: $load_seconds})
"""


@dataclass(frozen=True)
class Loaded:
    """What the benchmark needs to know about the graph in Neo4j (its :BenchGraph node)."""

    users: int
    follows: int
    top_id: int
    top_username: str
    caller_id: int
    load_seconds: float


_GENERATED_IDS: LiteralString = """
MATCH (u:User) WHERE $base <= u.id < $end
WITH u.id AS id ORDER BY id
RETURN collect(id) AS ids
"""


def spread_ids(neo4j: Driver, graph: Loaded, count: int) -> list[int]:
    """``count`` ids of generated users spread over the whole range, each a node: a user that
    was given a real account (``FollowGraph.named``) has its account's id instead of its
    generated one (a batch of counts that always held an unknown id would ask Neo4j for it on
    every call, which real clients do not)."""
    records, _, _ = neo4j.execute_query(
        _GENERATED_IDS, base=BENCH_ID_BASE, end=BENCH_ID_BASE + graph.users
    )
    ids: list[int] = records[0]["ids"]
    return ids[:: max(1, len(ids) // count)][:count]


def driver() -> Driver:
    return graph_db.driver(StoreSettings(), notifications_min_severity="OFF")


def loaded(neo4j: Driver) -> Loaded | None:
    records, _, _ = neo4j.execute_query("MATCH (g:BenchGraph) RETURN g LIMIT 1")
    if not records:
        return None
    node = records[0]["g"]
    return Loaded(
        users=node["users"],
        follows=node["follows"],
        top_id=node["top_id"],
        top_username=node["top_username"],
        caller_id=node["caller_id"],
        load_seconds=node["load_seconds"],
    )


def register_accounts(count: int) -> list[tuple[int, str]]:
    """``count`` fresh real accounts, registered through the gateway: [(id, username)]."""

    def register(client: httpx.Client) -> tuple[int, str]:
        username = f"bench_{uuid.uuid4().hex[:9]}"
        created = client.post(
            "/v1/users", json={"username": username, "password": uuid.uuid4().hex}
        )
        created.raise_for_status()
        return int(created.json()["id"]), username

    with (
        httpx.Client(base_url=GATEWAY, timeout=30) as client,
        ThreadPoolExecutor(max_workers=4) as pool,
    ):
        return list(pool.map(lambda _: register(client), range(count)))


def batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def write(tx: ManagedTransaction, /, query: LiteralString, rows: list[Row], **params: int) -> None:
    """One load batch: ``query`` on ``$rows`` (and ``params``) in a transaction of its own."""
    tx.run(query, {"rows": rows, **params}).consume()


def load(neo4j: Driver, graph: FollowGraph, accounts: dict[int, tuple[int, str]]) -> Loaded:
    """Writes ``graph`` (which must not be loaded yet) and its :BenchGraph node; ``accounts``
    maps the indexes of ``graph.named()`` to their real (id, username)."""
    if loaded(neo4j) is not None:
        raise RuntimeError("a bench graph is loaded already: --drop it first")
    users = graph.size.users
    top = graph.named()[0]
    ids = array("q", (BENCH_ID_BASE + index for index in range(users)))
    for index, (user_id, _) in accounts.items():
        ids[index] = user_id
    top_id, top_username = accounts[top]

    started = time.monotonic()
    with neo4j.session() as session:
        node_rows = (
            [ids[user], graph.follower_counts[user], graph.following_counts[user]]
            for user in range(users)
        )
        for batch in batches(node_rows, NODE_BATCH):
            session.execute_write(write, _NODES, batch)
        nodes_done = time.monotonic()
        print(f"  {users:,} nodes in {nodes_done - started:.1f}s")
        edge_rows: Iterator[Row] = (
            [
                ids[graph.followers[i]],
                ids[graph.followees[i]],
                graph.create_times[i],
                follow_rank(graph.create_times[i], ids[graph.followers[i]]),
            ]
            for i in range(len(graph.followers))
        )
        for number, batch in enumerate(batches(edge_rows, EDGE_BATCH), start=1):
            session.execute_write(write, _EDGES, batch)
            if number % 40 == 0:
                done = number * EDGE_BATCH
                print(f"  {done:,} follows, {done / (time.monotonic() - nodes_done):,.0f}/s")
        seconds = time.monotonic() - started
        result = Loaded(
            users=users,
            follows=len(graph.followers),
            top_id=top_id,
            top_username=top_username,
            caller_id=ids[graph.caller],
            load_seconds=seconds,
        )
        session.execute_write(
            lambda tx: tx.run(
                _META,
                users=result.users,
                follows=result.follows,
                seed=graph.size.seed,
                alpha=graph.size.alpha,
                top_id=result.top_id,
                top_username=result.top_username,
                caller_id=result.caller_id,
                load_seconds=seconds,
            ).consume()
        )
    return result


_DROP_FOLLOWS: LiteralString = """
MATCH (:BenchUser)-[f:FOLLOWS]->(:BenchUser)
WITH f LIMIT $batch
DELETE f
RETURN count(*) AS deleted
"""
_DROP_USERS: LiteralString = """
MATCH (u:BenchUser) WHERE $base <= u.id < $end
WITH u LIMIT $batch
DETACH DELETE u
RETURN count(*) AS deleted
"""
_UNMARK_ACCOUNTS: LiteralString = """
MATCH (u:BenchUser)
REMOVE u:BenchUser
SET u.follower_count = COUNT { (u)<-[:FOLLOWS]-() },
    u.following_count = COUNT { (u)-[:FOLLOWS]->() }
"""


def _delete_inbatches(neo4j: Driver, query: LiteralString) -> int:
    """Runs ``query`` (which deletes at most $batch things) until it deletes nothing; one
    transaction per batch keeps each within Neo4j's memory pool."""
    total = 0
    while True:
        records, _, _ = neo4j.execute_query(
            query, batch=EDGE_BATCH, base=BENCH_ID_BASE, end=BENCH_ID_END
        )
        deleted = int(records[0]["deleted"])
        total += deleted
        if deleted == 0:
            return total


def drop(neo4j: Driver) -> None:
    """Removes the bench graph and nothing else: the follows between :BenchUser nodes, the
    generated nodes, and the bench label of the real accounts (whose counts are recounted)."""
    follows = _delete_inbatches(neo4j, _DROP_FOLLOWS)
    users = _delete_inbatches(neo4j, _DROP_USERS)
    neo4j.execute_query(_UNMARK_ACCOUNTS)
    neo4j.execute_query("MATCH (g:BenchGraph|BenchCelebrity) DELETE g")
    print(f"dropped {follows:,} follows and {users:,} generated users")


def present(neo4j: Driver) -> bool:
    """Whether any bench data is in Neo4j, loaded completely or not."""
    records, _, _ = neo4j.execute_query(
        "OPTIONAL MATCH (u:BenchUser) WITH u LIMIT 1 "
        "OPTIONAL MATCH (g:BenchGraph) WITH u, g LIMIT 1 "
        "RETURN u IS NOT NULL OR g IS NOT NULL AS present"
    )
    return bool(records[0]["present"])


def ensure_loaded(neo4j: Driver) -> Loaded:
    """The loaded bench graph; the default one is generated and loaded first if none is."""
    graph = loaded(neo4j)
    if graph is None:
        print("no bench graph in Neo4j: generating and loading the default one first")
        graph = generate_and_load(neo4j, Size())
    return graph


def generate_and_load(neo4j: Driver, size: Size) -> Loaded:
    """Generates the graph and loads it, after dropping what a previous load left."""
    if present(neo4j):
        started = time.monotonic()
        drop(neo4j)
        print(f"dropped the previous bench graph in {time.monotonic() - started:.1f}s")
    started = time.monotonic()
    graph = generate(size)
    print(
        f"generated {size.users:,} users and {len(graph.followers):,} follows "
        f"(seed {size.seed}, alpha {size.alpha}) in {time.monotonic() - started:.1f}s"
    )
    top_counts = [graph.follower_counts[user] for user in graph.top(5)]
    print(f"top-5 follower counts: {', '.join(f'{count:,}' for count in top_counts)}")
    print(f"caller follows {graph.following_counts[graph.caller]} accounts")
    if size.users >= Size.users and size.follows >= Size.follows:
        assert top_counts[2] > CELEBRITY_THRESHOLD, "expected a few accounts over 50,000"
    named = graph.named()
    registering = time.monotonic()
    accounts = dict(zip(named, register_accounts(len(named)), strict=True))
    print(f"registered {len(named)} real accounts in {time.monotonic() - registering:.1f}s")
    result = load(neo4j, graph, accounts)
    print(f"most followed: @{result.top_username} (id {result.top_id})")
    print(
        f"loaded in {result.load_seconds:.1f}s: "
        f"{result.follows / result.load_seconds:,.0f} follows/s "
        f"({(result.users + result.follows) / result.load_seconds:,.0f} nodes+edges/s)"
    )
    return result


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.follow_graph", description=__doc__)
    parser.add_argument("--users", type=int, default=Size.users)
    parser.add_argument("--follows", type=int, default=Size.follows)
    parser.add_argument("--seed", type=int, default=Size.seed)
    parser.add_argument("--alpha", type=float, default=Size.alpha, help="Zipf exponent")
    parser.add_argument("--drop", action="store_true", help="remove the bench graph and stop")
    args = parser.parse_args(argv)
    with driver() as neo4j:
        if args.drop:
            started = time.monotonic()
            drop(neo4j)
            print(f"dropped the bench graph in {time.monotonic() - started:.1f}s")
            return 0
        generate_and_load(neo4j, Size(args.users, args.follows, args.seed, args.alpha))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
