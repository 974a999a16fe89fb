"""``python -m benchmarks.noop PORT``: the baseline, a TweetsService that does no work.

It runs the very bootstrap of the real services (interceptors, token verification, metrics,
health), so what the benchmark compares is the tweets service's own work against the cost of
serving any RPC at all on this machine.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import grpc
from chirp.tweets.v1 import tweet_pb2, tweets_service_pb2

from services.bootstrap.logging import configure_logging
from services.bootstrap.server import Registration, serve
from services.bootstrap.settings import Settings

SERVICE = tweets_service_pb2.DESCRIPTOR.services_by_name["TweetsService"].full_name
Context = grpc.aio.ServicerContext[bytes, bytes]


async def create_tweet(
    request: tweets_service_pb2.CreateTweetRequest, _context: Context
) -> tweet_pb2.Tweet:
    return tweet_pb2.Tweet(text=request.text)


async def get_tweet(
    request: tweets_service_pb2.GetTweetRequest, _context: Context
) -> tweet_pb2.Tweet:
    return tweet_pb2.Tweet(id=request.id)


async def batch_get_tweets(
    request: tweets_service_pb2.BatchGetTweetsRequest, _context: Context
) -> tweets_service_pb2.BatchGetTweetsResponse:
    return tweets_service_pb2.BatchGetTweetsResponse(
        tweets=[tweet_pb2.Tweet(id=tweet_id) for tweet_id in request.ids]
    )


def _handler(
    behaviour: object, request_type: type, response_type: type
) -> grpc.RpcMethodHandler[bytes, bytes]:
    return grpc.unary_unary_rpc_method_handler(
        behaviour,  # type: ignore[arg-type]
        request_deserializer=request_type.FromString,  # type: ignore[attr-defined]
        response_serializer=response_type.SerializeToString,  # type: ignore[attr-defined]
    )


@asynccontextmanager
async def wiring(_settings: Settings) -> AsyncIterator[Sequence[Registration]]:
    handlers = {
        "CreateTweet": _handler(
            create_tweet, tweets_service_pb2.CreateTweetRequest, tweet_pb2.Tweet
        ),
        "GetTweet": _handler(get_tweet, tweets_service_pb2.GetTweetRequest, tweet_pb2.Tweet),
        "BatchGetTweets": _handler(
            batch_get_tweets,
            tweets_service_pb2.BatchGetTweetsRequest,
            tweets_service_pb2.BatchGetTweetsResponse,
        ),
    }

    def add(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))

    yield [Registration(SERVICE, add)]


def main(port: int) -> None:
    settings = Settings(service="tweets", grpc_port=port, log_level="warning")
    configure_logging("noop", settings.log_level)
    asyncio.run(serve(settings, wiring))


if __name__ == "__main__":
    main(int(sys.argv[1]))
