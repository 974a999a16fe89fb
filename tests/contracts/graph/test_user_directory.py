"""``UserDirectory`` (graph's): the in-memory fake and the users service over gRPC keep the same
promises."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from chirp.users.v1 import user_pb2

from services.graph.ports import UserDirectory
from services.platform.users import GrpcUserDirectory
from tests.contracts.implementations import implementations, integration, unit
from tests.contracts.world import Account, Channels
from tests.integration.tweets.tokens import random_user_id
from tests.unit.graph.fakes import MemoryDirectory


@dataclass(frozen=True)
class Directory:
    directory: UserDirectory
    #: An account the directory knows.
    account: Account


def _memory(_: pytest.FixtureRequest) -> Directory:
    account = Account(random_user_id(), f"k{uuid.uuid4().hex[:12]}", "")
    return Directory(MemoryDirectory({account.username: account.id}), account)


def _grpc(request: pytest.FixtureRequest) -> Directory:
    channels: Channels = request.getfixturevalue("channels")
    directory = GrpcUserDirectory(request.getfixturevalue("resp"), channels.users)
    return Directory(directory, request.getfixturevalue("account"))


known = implementations(memory=unit(_memory), grpc=integration(_grpc))


async def test_a_username_in_any_case_names_its_account(known: Directory) -> None:
    account = known.account
    assert await known.directory.id_of(account.username.upper()) == account.id
    assert await known.directory.id_of(f"k{uuid.uuid4().hex[:12]}") is None


async def test_accounts_are_found_by_id_and_others_left_out(known: Directory) -> None:
    account = known.account
    found = await known.directory.serialized([account.id, random_user_id()])
    users = [user_pb2.User.FromString(payload) for payload in found.values()]
    assert [(user.id, user.username) for user in users] == [(account.id, account.username)]
