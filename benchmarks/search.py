"""SearchTweets and ListTrends on the real search service over the dataset's tweets
(``benchmarks/dataset.py``: Zipf-distributed words and hashtags), each next to the no-op
SearchService measured in the same run: a frequent word (the Zipf head: many matches, the
page is the newest 20), a hashtag, a word from the long tail, and the trends."""

from __future__ import annotations

from benchmarks import common
from benchmarks.common import Options, Scenario
from benchmarks.dataset import Dataset
from benchmarks.report import Report
from services.platform.settings import GRPC_PORTS

SEARCH = f"127.0.0.1:{GRPC_PORTS['search']}"
SERVICE = "chirp.search.v1.SearchService"


def scenarios(data: Dataset) -> list[Scenario]:
    method = f"{SERVICE}/SearchTweets"
    return [
        Scenario("SearchTweets frequent word", method, {"q": data.words[0], "page_size": 20}),
        Scenario("SearchTweets hashtag", method, {"q": f"#{data.hashtags[0]}", "page_size": 20}),
        Scenario(
            "SearchTweets rare word",
            method,
            {"q": data.words[len(data.words) // 2], "page_size": 20},
        ),
        Scenario("ListTrends", f"{SERVICE}/ListTrends", {"page_size": 20}),
    ]


def run(options: Options, data: Dataset, report: Report) -> None:
    metadata = common.bearer(data.token(data.push_reader))
    with common.baseline_server() as baseline:
        sides = common.Sides(("search", SEARCH), baseline, metadata)
        rows = common.measure("search", scenarios(data), sides, options.load)
    report.add(rows)
    if any(row.result.errors == row.result.requests for row in rows if row.target == "search"):
        report.note("search: every call failed (is the search service implemented yet?)")
