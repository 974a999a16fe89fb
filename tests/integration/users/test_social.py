"""Profile counts from the running graph and tweets services, and without them."""

from __future__ import annotations

import socket
import time
import uuid

import grpc

from services.platform.channels import service_channel
from services.platform.settings import Settings
from services.users.adapters.clients import GrpcSocialCounts
from services.users.model import Counts, Relationship
from services.users.wiring import PROFILE_COUNTS_SECONDS

SETTINGS = Settings(service="users")


async def test_an_account_nobody_follows_counts_zero_from_the_running_services() -> None:
    user_ids = [uuid.uuid4().int >> 66 for _ in range(3)]
    async with (
        grpc.aio.insecure_channel(SETTINGS.graph_addr) as graph,
        grpc.aio.insecure_channel(SETTINGS.tweets_addr) as tweets,
    ):
        social = GrpcSocialCounts(graph, tweets)
        assert await social.counts(user_ids) == dict.fromkeys(user_ids, Counts())
        relationships = await social.relationships(user_ids[0], user_ids[1:])
        assert relationships == dict.fromkeys(
            user_ids[1:], Relationship(caller_follows=False, follows_caller=False)
        )


async def test_services_that_do_not_answer_leave_zeros_not_errors() -> None:
    with socket.socket() as listener:  # accepts connections, never speaks HTTP/2
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        silent = f"127.0.0.1:{listener.getsockname()[1]}"
        async with (
            service_channel(silent, timeout=PROFILE_COUNTS_SECONDS) as graph,
            service_channel("127.0.0.1:1", timeout=PROFILE_COUNTS_SECONDS) as tweets,  # refuses
        ):
            social = GrpcSocialCounts(graph, tweets)
            started = time.perf_counter()
            assert await social.counts([7, 8]) == {}
            assert await social.relationships(7, [8]) == {}
            assert time.perf_counter() - started < 2 * PROFILE_COUNTS_SECONDS + 1
