"""``benchmarks/CAPACITY.md``: the seeds' scale (Twitter's) from this run's measurements.

Written by a full ``make bench`` run from what it measured (the rows and figures of
``benchmarks/results/RESULTS.md``) and the assumptions stated here, so that every number in the
plan says where it comes from and the plan follows the code when the code gets faster."""

from __future__ import annotations

import math
from dataclasses import dataclass

from benchmarks.common import Row
from benchmarks.report import Report
from devstack.paths import ROOT

CAPACITY = ROOT / "benchmarks" / "CAPACITY.md"
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Seeds:
    """The scale to plan for (the project's seeds)."""

    daily_users: float = 300e6
    timeline_reads_per_s: float = 600_000
    tweets_per_s: float = 6_000
    searches_per_s: float = 4_000
    follows_per_user: float = 200
    timeline_length: int = 800


@dataclass(frozen=True)
class Assumptions:
    """What the plan assumes where nothing here measures it; each is named where used."""

    peak_factor: float = 5.0  # tweet peaks: "several times" the mean
    utilization: float = 0.6  # cores are provisioned to run at 60% at the rate planned for
    celebrities_followed: float = 10.0  # of an average user's 200 follows, over the threshold
    pull_reader_celebrities: float = 50.0  # the benchmark's pull reader follows 50
    fanned_out_share: float = 0.5  # share of follow edges that point at non-celebrities
    active_share: float = 0.6  # share of a tweet's followers whose timeline is live in Redis
    redis_copies: int = 2  # a primary and a replica of every timeline
    redis_overhead: float = 1.3  # allocator fragmentation, replication buffers, keys' headers
    storage_row_factor: float = 3.0  # a tweet's rows (tweets, user_tweets, counters) / its message
    storage_compression: float = 0.5  # on-disk bytes / raw bytes
    storage_replication: int = 3  # ScyllaDB replication factor
    years: int = 10
    events_per_tweet: float = 4.0  # deliveries of a tweets.created (timelines, search, ...)
    follows_per_user_per_day: float = 0.5  # new follows (each one event)
    likes_per_tweet: float = 10.0  # likes and retweets per tweet (each one event)
    search_days: int = 7  # the realtime search index keeps the last week of tweets
    index_factor: float = 1.5  # index bytes per tweet / its message bytes
    partition_bytes: float = 50e9  # one search partition (one index shard per replica)


#: What each assumption stands for, printed with its value.
WHY = {
    "peak_factor": "tweet peaks over the mean (the seeds: several times higher)",
    "utilization": "target CPU utilization of a core at the rate planned for",
    "celebrities_followed": "follows of an average user above the celebrity threshold",
    "pull_reader_celebrities": "celebrities the benchmark's pull reader follows (dataset)",
    "fanned_out_share": "share of follow edges pointing at accounts under the threshold",
    "active_share": "share of a tweet's followers with a live timeline (read in 30 days)",
    "redis_copies": "copies of each timeline (primary + replica)",
    "redis_overhead": "allocator fragmentation, replication buffers, key headers",
    "storage_row_factor": "stored bytes of a tweet (its rows in every table) / its message",
    "storage_compression": "on-disk / raw bytes (LZ4 on short texts)",
    "storage_replication": "ScyllaDB replication factor",
    "years": "retention of tweets",
    "events_per_tweet": "consumers of tweets.created (timelines, search, notifications...)",
    "follows_per_user_per_day": "new follows per daily user per day",
    "likes_per_tweet": "likes and retweets per tweet (one event each)",
    "search_days": "days of tweets in the realtime index",
    "index_factor": "index bytes per tweet / its message bytes (terms, positions, stored id)",
    "partition_bytes": "index bytes per search partition (one shard per replica)",
}


def _cpu(row: Row | None) -> dict[str, float]:
    return dict(row.cpu_ms) if row else {}


def _ceil(value: float) -> int:
    """math.ceil, with 0 for a figure this run did not measure (NaN)."""
    return 0 if math.isnan(value) else math.ceil(value)


def _worker_deliveries(facts: dict[str, float]) -> tuple[int, float]:
    """Deliveries/s of one fanout worker: for the largest author measured up to 10,000
    followers (larger ones are celebrities, merged on read), and that author's target."""
    prefix = "fanout.deliveries_per_s."
    measured = [int(name.removeprefix(prefix)) for name in facts if name.startswith(prefix)]
    target = max((t for t in measured if t <= 10_000), default=10_000)
    return target, facts.get(f"{prefix}{target}", float("nan"))


def _cores(rate: float, cpu_ms: float, utilization: float) -> float:
    return rate * cpu_ms / 1000 / utilization


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _bytes(value: float) -> str:
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:,.0f} B"


def _tier_table(
    rate: float, cpu: dict[str, float], utilization: float, source: str
) -> tuple[str, float]:
    lines = ["| process | CPU ms per request | cores | from |", "|---|---|---|---|"]
    total = 0.0
    for name, ms in sorted(cpu.items(), key=lambda item: -item[1]):
        cores = _cores(rate, ms, utilization)
        total += cores
        lines.append(f"| {name} | {ms:.2f} | {_fmt(cores)} | {source} |")
    lines.append(f"| **all** | {sum(cpu.values()):.2f} | **{_fmt(total)}** | |")
    return "\n".join(lines), total


def render(report: Report, seeds: Seeds = Seeds(), a: Assumptions = Assumptions()) -> str:
    """CAPACITY.md for ``report``'s measurements."""
    facts = {name: value for name, (value, _) in report.facts.items()}
    push = _cpu(report.row("timelines", "ListHomeTimeline push x20"))
    pull = _cpu(report.row("timelines", "ListHomeTimeline pull x20"))
    share = a.celebrities_followed / a.pull_reader_celebrities
    read = {
        name: push.get(name, 0.0) + max(0.0, pull.get(name, 0.0) - push.get(name, 0.0)) * share
        for name in dict.fromkeys([*push, *pull])
    }
    write = _cpu(report.row("tweets", "CreateTweet"))
    search = _cpu(report.row("search", "SearchTweets frequent word"))
    peak_tweets = seeds.tweets_per_s * a.peak_factor
    read_table, read_cores = _tier_table(
        seeds.timeline_reads_per_s, read, a.utilization,
        "push and pull ListHomeTimeline rows, `celebrities_followed`",
    )  # fmt: skip
    write_table, write_cores = _tier_table(
        peak_tweets, write, a.utilization, "CreateTweet row (`peak_factor`)"
    )
    search_table, search_cores = _tier_table(
        seeds.searches_per_s, search, a.utilization, "SearchTweets frequent word row"
    )

    fanout_target, per_worker = _worker_deliveries(facts)
    deliveries_mean = (
        seeds.tweets_per_s * seeds.follows_per_user * a.fanned_out_share * a.active_share
    )
    deliveries_peak = deliveries_mean * a.peak_factor
    fanout_workers = deliveries_peak / per_worker / a.utilization
    lag_100k = facts.get("fanout.lag_s.100000", float("nan"))

    entry = facts.get("redis.bytes_per_entry", float("nan"))
    entry_compact = facts.get("redis.bytes_per_entry_listpack", float("nan"))
    entries = seeds.daily_users * seeds.timeline_length
    redis_bytes = entries * entry * a.redis_copies * a.redis_overhead
    redis_compact = entries * entry_compact * a.redis_copies * a.redis_overhead
    redis_ops = facts.get("redis.zrevrangebylex_rps", float("nan"))
    redis_read_cores = seeds.timeline_reads_per_s / redis_ops / a.utilization

    tweet_bytes = facts.get("tweet.bytes", float("nan"))
    tweets_total = seeds.tweets_per_s * SECONDS_PER_DAY * 365 * a.years
    storage = (
        tweets_total
        * tweet_bytes
        * a.storage_row_factor
        * a.storage_compression
        * a.storage_replication
    )

    tweet_events = peak_tweets * (1 + a.events_per_tweet)
    follow_events = seeds.daily_users * a.follows_per_user_per_day / SECONDS_PER_DAY
    like_events = seeds.tweets_per_s * a.likes_per_tweet
    nats_messages = tweet_events + follow_events + like_events
    nats_ms = write.get("nats", float("nan"))
    nats_cores = _cores(peak_tweets, nats_ms, a.utilization)

    index_bytes = seeds.tweets_per_s * SECONDS_PER_DAY * a.search_days * tweet_bytes
    index_bytes *= a.index_factor
    partitions = _ceil(index_bytes / a.partition_bytes)
    search_process_ms = search.get("search", float("nan"))
    per_search_ms = search_process_ms * partitions  # every partition answers every query
    search_index_cores = _cores(seeds.searches_per_s, per_search_ms, a.utilization)
    replicas = max(2, _ceil(search_index_cores / max(partitions, 1) / 8))

    # the mix's busiest rate below the knee: served in full and without errors (past it,
    # queueing and failed requests make the per-request figure meaningless)
    served = [r for r in report.rows if r.group == "DSB mix via Envoy" and r.cpu_ms]
    clean = [
        r for r in served if not r.result.errors and r.result.rps >= 0.95 * (r.offered or 0)
    ] or served
    mix = max(clean, key=lambda r: r.result.rps, default=None)
    envoy_ms = mix.cpu_ms.get("envoy", float("nan")) if mix else float("nan")
    mix_ms = sum(mix.cpu_ms.values()) if mix else float("nan")
    edge_rate = seeds.timeline_reads_per_s + peak_tweets + seeds.searches_per_s
    envoy_cores = _cores(edge_rate, envoy_ms, a.utilization)

    assumptions = "\n".join(
        f"| `{name}` | {value} | {WHY.get(name, '')} |" for name, value in vars(a).items()
    )
    summary = "\n".join(
        [
            "| tier | at the seeds' scale |",
            "|---|---|",
            f"| home timeline reads (all processes on the read path) | {_fmt(read_cores)} cores |",
            f"| posting at the peak | {_fmt(write_cores)} cores |",
            f"| fanout workers at the peak | {_fmt(fanout_workers)} cores |",
            (
                f"| search (all processes a search touches) | {_fmt(search_cores)} cores; "
                f"{partitions} partitions x {replicas} replicas |"
            ),
            f"| Envoy | {_fmt(envoy_cores)} cores |",
            (
                f"| Redis, active users' timelines | {_bytes(redis_bytes)} (skiplist) or "
                f"{_bytes(redis_compact)} (listpack) |"
            ),
            f"| ScyllaDB, {a.years} years of tweets | {_bytes(storage)} |",
            f"| NATS JetStream at the peak | {nats_messages:,.0f} messages/s |",
        ]
    )
    results = report.directory.relative_to(ROOT) / "RESULTS.md"
    return f"""# Capacity plan: Chirp at Twitter's scale

Written by `make bench` (`benchmarks/capacity.py`) from the run in `{results}` (its rows and
its *Measured figures*; `fact` below names one of those) and the assumptions listed at the end;
change an assumption there and run `make bench` again. Measured on {report.options.seconds}s
runs on a 2-core machine shared with other work: the CPU figures are per request and per
process (`/proc` user + system time during the run / requests served), which the neighbours do
not add to, but contention inflates somewhat; read every total as an order of magnitude.

The scale (the seeds): {seeds.daily_users / 1e6:,.0f}M daily users,
{seeds.timeline_reads_per_s:,.0f} home timeline reads/s, {seeds.tweets_per_s:,.0f} tweets/s
(peaks x{a.peak_factor:g}: {peak_tweets:,.0f}/s), {seeds.searches_per_s:,.0f} searches/s,
{seeds.follows_per_user:g} follows per user, {seeds.timeline_length}-entry home timelines.
Cores are provisioned to run at {a.utilization:.0%} (`utilization`).

{summary}

## Home timeline reads: {_fmt(read_cores)} cores

A read costs the push reader's work (Redis page, hydration) plus, for the celebrities an
average user follows (`celebrities_followed` = {a.celebrities_followed:g}), that share of the
pull reader's extra work (it follows `pull_reader_celebrities` = {a.pull_reader_celebrities:g};
ListFollowingIds, the celebrities' recent ids, the merge): per process,
push + (pull - push) x {share:.2f}, at {seeds.timeline_reads_per_s:,.0f} reads/s.

{read_table}

Redis alone, one core per process, answers {redis_ops:,.0f} page reads/s (fact
`redis.zrevrangebylex_rps`): the reads need about {_fmt(redis_read_cores)} Redis cores, a
fraction of the memory-bound fleet below.

## Posting: {_fmt(write_cores)} cores at the peak

CreateTweet at the peak ({peak_tweets:,.0f}/s), including the work its events cause while it
is measured (indexing, the fanout consumer, the outbox relay):

{write_table}

## Fanout: {_fmt(fanout_workers)} worker processes at the peak

A tweet reaches {seeds.follows_per_user:g} followers on average, of which the
non-celebrity-followed share `fanned_out_share` = {a.fanned_out_share:g} and the active share
`active_share` = {a.active_share:g}: {deliveries_mean:,.0f} timeline writes/s on average,
{deliveries_peak:,.0f}/s at the peak. One fanout worker process delivers {per_worker:,.0f}/s
(fact `fanout.deliveries_per_s.{fanout_target}`: an author with ~{fanout_target:,} followers, one
process, pipelined Lua pushes), so {_fmt(fanout_workers)} worker processes (cores) at
{a.utilization:.0%}. Lag for a 100,000-follower author: {lag_100k:.2f} s (fact
`fanout.lag_s.100000`); accounts above the celebrity threshold are not fanned out at all.

## Redis memory for active users' timelines: {_bytes(redis_bytes)}

{seeds.daily_users / 1e6:,.0f}M timelines x {seeds.timeline_length} entries x
{entry:.0f} bytes per entry (fact `redis.bytes_per_entry`: MEMORY USAGE of an 800-entry
timeline as the store writes it, 19-digit ids as members of a sorted set, which Redis keeps as a
skiplist above 128 entries) x `redis_copies` {a.redis_copies} x `redis_overhead`
{a.redis_overhead:g} = **{_bytes(redis_bytes)}**. With `zset-max-listpack-entries 1024` the
same timeline takes {entry_compact:.0f} bytes per entry (fact `redis.bytes_per_entry_listpack`,
measured on a private redis-server): **{_bytes(redis_compact)}**, at the cost of O(n) inserts
into an 800-entry listpack (cheap at this size). Either way the fleet is sized by memory, not
by operations: at 100 GB per Redis process that is {_ceil(redis_compact / 100e9):,}
processes (listpack) or {_ceil(redis_bytes / 100e9):,} (skiplist).

## ScyllaDB storage for {a.years} years: {_bytes(storage)}

{seeds.tweets_per_s:,.0f} tweets/s x {a.years} years = {tweets_total:,.3g} tweets x
{tweet_bytes:.0f} bytes (fact `tweet.bytes`: the mean Tweet message of the dataset) x
`storage_row_factor` {a.storage_row_factor:g} (the tweet row, its user_tweets entry, counters
and versions) x `storage_compression` {a.storage_compression:g} x `storage_replication`
{a.storage_replication} = **{_bytes(storage)}** (media bytes are in the object store, not
here). At 2 TB of data per node (a common ScyllaDB density on NVMe) that is
{_ceil(storage / 2e12):,} nodes by the end of year {a.years}.

## NATS JetStream: {nats_messages:,.0f} messages/s at the peak

Tweet events at the peak, each published once and delivered `events_per_tweet`
{a.events_per_tweet:g} times ({tweet_events:,.0f}/s), follows ({follow_events:,.0f}/s from
`follows_per_user_per_day`), likes and retweets ({like_events:,.0f}/s from `likes_per_tweet`).
The NATS server spent {nats_ms:.2f} ms of CPU per CreateTweet here (CreateTweet row), so the
tweets alone need {_fmt(nats_cores)} NATS cores; spread the subjects over streams (tweets,
graph, users) and partition the tweets stream by author (a few hundred thousand messages/s per
stream is the usual ceiling of one JetStream stream leader), replicated 3 times.

## Search: {partitions:,} partitions x {replicas:,} replicas

The realtime index keeps `search_days` {a.search_days} days: {seeds.tweets_per_s:,.0f} x
{SECONDS_PER_DAY:,} x {a.search_days} tweets x {tweet_bytes:.0f} bytes x `index_factor`
{a.index_factor:g} = {_bytes(index_bytes)}, in `partition_bytes` {_bytes(a.partition_bytes)}
partitions: **{partitions:,}** (older tweets go to an archive index queried only when the
recent one has too few results). Every search asks every partition: the search process spent
{search_process_ms:.2f} ms per query on this small index (SearchTweets frequent word row), so
{seeds.searches_per_s:,.0f} searches/s x {partitions} partitions need
{_fmt(search_index_cores)} cores; at 8 cores per replica that is **{replicas:,} replicas** of
each partition (at least 2). A per-partition query on a 50 GB index costs more than on the
benchmark's few megabytes: treat this as a lower bound. All tiers a search touches
(hydration included), {_fmt(search_cores)} cores at the search rate:

{search_table}

## The topology, as run

These figures come from the single-node stack. The shape they would be deployed in runs too:
`make test-cluster` (CI, after `make test`) brings up a three-node Cassandra ring at three
copies, a Redis Cluster of three masters and three replicas, three NATS servers with the stream
at three replicas and two processes of every service behind Envoy, all on this machine, runs the
end-to-end suite through the gateway, and kills a Redis master, a NATS server, a Cassandra node
and one process of each service under load: nothing acknowledged is lost, and only the
Cassandra node's death fails requests (posts, for about 12 s until its peers convict it). The
README's "How it scales" has the table; each tier above grows by adding nodes of the same kind.

## The edge

Envoy spent {envoy_ms:.3f} ms of CPU per request of the DSB mix (its row at
{mix.offered if mix else 0:,} offered requests/s in the CPU table: the busiest rate below the
knee, served in full without errors), so the {edge_rate:,.0f} requests/s of reads, peak
posts and searches need {_fmt(envoy_cores)} Envoy cores (JSON transcoding, JWT verification,
limits, access log). A cross-check of the per-tier figures: one request of the mix (60% home
reads, 30% user timelines, 10% posts) cost {mix_ms:.1f} ms of CPU over all processes, so
{edge_rate:,.0f} such requests/s would need {_fmt(_cores(edge_rate, mix_ms, a.utilization))}
cores in all.

## Assumptions

| name | value | what it stands for |
|---|---|---|
{assumptions}
"""


def write(report: Report) -> None:
    """``benchmarks/CAPACITY.md`` after a full run (``results/quick/CAPACITY.md`` after a quick
    one, which the committed plan must not come from)."""
    path = report.directory / "CAPACITY.md" if report.options.quick else CAPACITY
    path.write_text(render(report))
