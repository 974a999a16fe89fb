"""CreateTweet, GetTweet and BatchGetTweets on the real tweets service, each next to the no-op
baseline measured in the same run, over the dataset (``benchmarks/dataset.py``): posts come
from many accounts in turn (one token per request, round-robin, as real traffic does and so
that no single account meets a per-account limit), reads ask for the dataset's tweets.

LikeTweet likes tweets posted for the run, a new (account, tweet) pair on every request
(``common.advancing``); UnlikeTweet then undoes exactly those likes, and the tweets are
deleted, so the dataset ends as it began."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc
from chirp.tweets.v1 import tweets_service_pb2, tweets_service_pb2_grpc

from benchmarks import common
from benchmarks.common import Options, Scenario
from benchmarks.dataset import Dataset
from benchmarks.report import Report
from services.platform.settings import GRPC_PORTS

TWEETS = f"127.0.0.1:{GRPC_PORTS['tweets']}"
SERVICE = "chirp.tweets.v1.TweetsService"
POSTERS = 200
#: Tweets posted for the like benchmark, by as many accounts (none of them a liker): with
#: ``POSTERS`` likers, this many x POSTERS new likes before a pair would repeat.
LIKED_TWEETS = 100


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


def engagement(tweet_ids: list[int]) -> tuple[Scenario, Scenario]:
    """LikeTweet of a new (liker, tweet) pair on every request, and its undoing."""
    tweet = {"id": common.advancing([str(i) for i in tweet_ids], POSTERS)}
    return (
        Scenario("LikeTweet (a new pair each)", f"{SERVICE}/LikeTweet", tweet),
        Scenario("UnlikeTweet (each of those)", f"{SERVICE}/UnlikeTweet", tweet),
    )


@contextlib.contextmanager
def fresh_tweets(data: Dataset) -> Iterator[list[int]]:
    """``LIKED_TWEETS`` tweets posted for the run by as many accounts (after the posters),
    deleted at the end."""
    authors = [data.token(account) for account in data.accounts[-LIKED_TWEETS:]]
    with grpc.insecure_channel(TWEETS) as channel:
        stub = tweets_service_pb2_grpc.TweetsServiceStub(channel)
        posted = [
            (
                stub.CreateTweet(
                    tweets_service_pb2.CreateTweetRequest(text="liked in the benchmark"),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=30,
                ).id,
                token,
            )
            for token in authors
        ]
        try:
            yield [tweet_id for tweet_id, _ in posted]
        finally:
            for tweet_id, token in posted:
                stub.DeleteTweet(
                    tweets_service_pb2.DeleteTweetRequest(id=tweet_id),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=30,
                )


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
        posting, *reading = scenarios(data)
        common.warm_up(posting, sides, options.load)
        report.add(common.measure("tweets", [posting], sides, options.load))
        common.quiesce()
        report.add(common.measure("tweets", reading, sides, options.load))
        with fresh_tweets(data) as liked:
            report.add(common.measure_undone("tweets", *engagement(liked), sides, options.load))
