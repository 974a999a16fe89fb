"""CreateTweet, GetTweet and BatchGetTweets on the real tweets service, each next to the no-op
baseline measured in the same run, over the dataset (``benchmarks/dataset.py``): posts come
from many accounts in turn (one token per request, round-robin, as real traffic does and so
that no single account meets a per-account limit), reads ask for the dataset's tweets."""

from __future__ import annotations

import grpc
from chirp.tweets.v1 import tweets_service_pb2, tweets_service_pb2_grpc

from benchmarks import common
from benchmarks.common import Options, Scenario
from benchmarks.dataset import Dataset
from benchmarks.report import Report
from services.bootstrap.settings import GRPC_PORTS

TWEETS = f"127.0.0.1:{GRPC_PORTS['tweets']}"
SERVICE = "chirp.tweets.v1.TweetsService"
POSTERS = 200


def scenarios(data: Dataset) -> list[Scenario]:
    ids = [str(tweet_id) for tweet_id in data.tweet_ids[-100:]]
    return [
        Scenario(
            "CreateTweet",
            f"{SERVICE}/CreateTweet",
            {"text": f"load {{{{.RequestNumber}}}} {' '.join(data.words[:6])} #{data.hashtags[0]}"},
        ),
        Scenario("GetTweet", f"{SERVICE}/GetTweet", {"id": ids[0]}),
        Scenario("BatchGetTweets x100", f"{SERVICE}/BatchGetTweets", {"ids": ids}),
        Scenario(
            "ListUserTweets x20",
            f"{SERVICE}/ListUserTweets",
            {"username": data.most_followed()[1], "page_size": 20},
        ),
    ]


def tweet_bytes(data: Dataset) -> float:
    """The mean size of a dataset tweet as the tweets service returns it (protobuf bytes,
    author hydrated)."""
    with grpc.insecure_channel(TWEETS) as channel:
        stub = tweets_service_pb2_grpc.TweetsServiceStub(channel)
        request = tweets_service_pb2.BatchGetTweetsRequest(ids=data.tweet_ids[-100:])
        metadata = tuple(common.bearer(data.token(data.push_reader)).items())
        tweets = stub.BatchGetTweets(request, metadata=metadata, timeout=30).tweets
    return sum(tweet.ByteSize() for tweet in tweets) / max(len(tweets), 1)


def run(options: Options, data: Dataset, report: Report) -> None:
    report.fact("tweet.bytes", tweet_bytes(data), "mean protobuf size of a dataset tweet")
    posters = common.round_robin([data.token(account) for account in data.accounts[:POSTERS]])
    with common.baseline_server() as baseline:
        sides = common.Sides(("tweets", TWEETS), baseline, posters)
        report.add(common.measure("tweets", scenarios(data), sides, options.load))
