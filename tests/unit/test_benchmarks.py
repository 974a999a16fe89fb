"""The benchmark harness's own logic: the dataset it generates, how figures pair with their
baselines, how CPU is attributed, the baseline gateway's configuration."""

from __future__ import annotations

import random
from collections import Counter

from benchmarks import capacity, common, dataset, ghz, workload
from benchmarks.common import CpuSpent, Options, Row
from benchmarks.report import Report


def _result(rps: float) -> ghz.Result:
    return ghz.Result(requests=int(rps * 10), rps=rps, p50_ms=1.0, p95_ms=2.0, p99_ms=3.0, errors=0)


def test_the_dataset_is_reproducible_zipf_shaped_and_under_the_post_limit() -> None:
    size = dataset.Size(users=200, follows=2_000, tweets=3_000)
    authors = dataset.tweet_authors(size)
    counts = Counter(authors)
    assert len(authors) == size.tweets
    assert min(counts.values()) >= dataset.TWEETS_EACH
    assert max(counts.values()) <= dataset.MAX_TWEETS_EACH
    assert authors == dataset.tweet_authors(size)

    words = dataset.vocabulary(500, random.Random(1))  # noqa: S311 (test data)
    tags = dataset.vocabulary(50, random.Random(2))  # noqa: S311 (test data)
    texts = dataset.tweet_texts(size, words, tags)
    used = Counter(word for text in texts for word in text.split() if not word.startswith("#"))
    assert len(set(words)) == len(words)
    # Zipf: the first word of the vocabulary is used far more than a word from the tail
    assert used[words[0]] > 20 * max(1, used[words[400]])
    assert all(len(text) <= 280 for text in texts)


def test_rows_pair_with_their_baseline_and_the_ratio_is_printed() -> None:
    report = Report(Options(quick=True))
    report.add(
        [
            Row("tweets", "GetTweet", "baseline", _result(1000)),
            Row("tweets", "GetTweet", "tweets", _result(250)),
            Row("mix", "mix", "baseline", _result(100), "Envoy -> no-op", offered=100),
            Row("mix", "mix", "chirp", _result(50), "Envoy -> no-op", offered=100),
        ]
    )
    closed = report.table(offered=False)
    assert "| tweets | GetTweet | no-op gRPC | 250 |" in closed
    assert "| 1,000 |" in closed
    assert closed.rstrip().endswith("0.25x |")
    assert "mix" not in closed
    assert report.table(offered=True).rstrip().endswith("0.50x |")
    assert report.row("tweets", "GetTweet") == report.rows[1]


def test_cpu_per_request_subtracts_the_background_measured_with_the_baseline() -> None:
    background = CpuSpent({"tweets": 0.5, "redis": 0.1}, seconds=10)
    spent = CpuSpent({"tweets": 2.5, "redis": 0.1}, seconds=10)
    assert common.cpu_per_request(spent, background, requests=1000) == {"tweets": 2.0}


def test_the_baseline_gateway_is_the_gateway_with_the_mix_clusters_at_the_no_op() -> None:
    config = workload.baseline_config(gateway_port=18080, admin_port=19901, noop_port=50199)
    (listener,) = config["static_resources"]["listeners"]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 18080}
    ports = {
        cluster["name"]: endpoint["endpoint"]["address"]["socket_address"]["port_value"]
        for cluster in config["static_resources"]["clusters"]
        for endpoints in cluster["load_assignment"]["endpoints"]
        for endpoint in endpoints["lb_endpoints"]
    }
    assert all(ports[name] == 50199 for name in workload.NOOP_CLUSTERS)
    assert ports["users"] != 50199  # token keys and accounts stay real


def test_the_capacity_plan_is_computed_from_the_measured_rows_and_figures() -> None:
    report = Report(Options())
    cpu = {"timelines": 2.0, "tweets": 3.0}
    report.add(
        [
            Row("timelines", "ListHomeTimeline push x20", "timelines", _result(100), cpu_ms=cpu),
            Row("timelines", "ListHomeTimeline pull x20", "timelines", _result(50), cpu_ms=cpu),
        ]
    )
    report.fact("redis.bytes_per_entry", 100.0, "")
    report.fact("redis.bytes_per_entry_listpack", 25.0, "")
    plan = capacity.render(report)
    # 600,000 reads/s x 5 ms / 1000 / 0.6 utilization
    assert "## Home timeline reads: 5,000 cores" in plan
    # 300M timelines x 800 entries x 100 bytes x 2 copies x 1.3 overhead
    assert "**62.4 TB**" in plan
    assert "| `utilization` | 0.6 |" in plan
