"""Composition root of the tweets service: adapters are connected here and nowhere else."""

from chirp.tweets.v1 import tweets_service_pb2

from services.bootstrap.server import unimplemented_wiring

# Every RPC answers UNIMPLEMENTED until tweets, edits, likes, retweets and replies land (issue #3).
wiring = unimplemented_wiring(tweets_service_pb2.DESCRIPTOR.services_by_name["TweetsService"])
