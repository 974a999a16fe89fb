"""CreateTweet, GetTweet and BatchGetTweets on the real tweets service, each next to the no-op
baseline measured in the same run."""

from __future__ import annotations

import sys

import httpx

from benchmarks import common, ghz
from benchmarks.common import Row, Scenario
from services.bootstrap.settings import GRPC_PORTS

TWEETS = f"127.0.0.1:{GRPC_PORTS['tweets']}"


def _tweet_ids(client: httpx.Client, token: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    ids = []
    for index in range(count):
        posted = client.post(
            "/v1/tweets", json={"text": f"benchmark seed {index} #chirp"}, headers=headers
        )
        posted.raise_for_status()
        ids.append(str(posted.json()["id"]))
    return ids


def scenarios(ids: list[str]) -> list[Scenario]:
    return [
        Scenario(
            "CreateTweet",
            "chirp.tweets.v1.TweetsService/CreateTweet",
            {"text": "load {{.RequestNumber}} at {{.TimestampUnixNano}} #bench"},
        ),
        Scenario("GetTweet", "chirp.tweets.v1.TweetsService/GetTweet", {"id": ids[0]}),
        Scenario(
            "BatchGetTweets x100",
            "chirp.tweets.v1.TweetsService/BatchGetTweets",
            {"ids": ids[:100]},
        ),
    ]


def measure(load: ghz.Load) -> list[Row]:
    with httpx.Client(base_url=common.GATEWAY, timeout=30) as client:
        _, token = common.session(client)
        ids = _tweet_ids(client, token, 100)
    metadata = {"authorization": f"Bearer {token}"}
    with common.baseline_server() as baseline:
        return common.measure(scenarios(ids), ("tweets", TWEETS), baseline, load, metadata)


def main(argv: list[str]) -> int:
    load = common.load_from(argv)
    rows = measure(load)
    print(f"tweets service vs no-op baseline, concurrency {load.concurrency}, {load.seconds}s each")
    print(common.table(rows))
    return 1 if any(row.result.errors for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
