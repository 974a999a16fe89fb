"""``chirp.users.v1.UsersService``: requests into ``UserService`` calls, results into messages."""

# gRPC hands every method a request and a context, whether it needs them or not.
# ruff: noqa: ARG002

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc
from google.api import httpbody_pb2
from google.protobuf import empty_pb2

from services.platform.auth import current_caller, require_caller
from services.users import convert
from services.users.adapters.tokens import JsonWebKey
from services.users.export import AccountExport
from services.users.model import Profile, SignedIn, View
from services.users.service import UserService

Context = grpc.aio.ServicerContext[Any, Any]
ARCHIVE_TYPE = "application/zip"


class UsersServicer(users_service_pb2_grpc.UsersServiceServicer):
    def __init__(
        self, accounts: UserService, export: AccountExport, keys: Sequence[JsonWebKey]
    ) -> None:
        self._accounts = accounts
        self._export = export
        self._keys = keys

    async def CreateUser(
        self, request: users_service_pb2.CreateUserRequest, context: Context
    ) -> user_pb2.User:
        user = await self._accounts.register(
            request.username, request.password, request.display_name
        )
        return convert.basic(user)

    async def CreateSession(
        self, request: users_service_pb2.CreateSessionRequest, context: Context
    ) -> user_pb2.Session:
        return _session(await self._accounts.sign_in(request.username, request.password))

    async def IssueSession(
        self, request: users_service_pb2.IssueSessionRequest, context: Context
    ) -> user_pb2.Session:
        return _session(await self._accounts.issue_session(request.user_id))

    async def GetJsonWebKeySet(
        self, request: users_service_pb2.GetJsonWebKeySetRequest, context: Context
    ) -> user_pb2.JsonWebKeySet:
        return user_pb2.JsonWebKeySet(
            keys=[
                user_pb2.JsonWebKey(
                    kty=key.kty, kid=key.kid, use=key.use, alg=key.alg, crv=key.crv, x=key.x
                )
                for key in self._keys
            ]
        )

    async def GetUser(
        self, request: users_service_pb2.GetUserRequest, context: Context
    ) -> user_pb2.User:
        return convert.full(await self._accounts.profile(request.username, current_caller()))

    async def GetCurrentUser(
        self, request: users_service_pb2.GetCurrentUserRequest, context: Context
    ) -> user_pb2.User:
        return convert.full(await self._accounts.own_profile(require_caller()))

    async def UpdateCurrentUser(
        self, request: users_service_pb2.UpdateCurrentUserRequest, context: Context
    ) -> user_pb2.User:
        profile = await self._accounts.update_profile(
            require_caller(),
            list(request.update_mask.paths),
            {"display_name": request.user.display_name, "bio": request.user.bio},
        )
        return convert.full(profile)

    async def ExportCurrentUser(
        self, request: users_service_pb2.ExportCurrentUserRequest, context: Context
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        async for chunk in self._export.archive(require_caller()):
            if chunk:
                yield httpbody_pb2.HttpBody(content_type=ARCHIVE_TYPE, data=chunk)

    async def DeleteCurrentUser(
        self, request: users_service_pb2.DeleteCurrentUserRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._accounts.delete_account(require_caller(), request.password)
        return empty_pb2.Empty()

    async def BatchGetUsers(
        self, request: users_service_pb2.BatchGetUsersRequest, context: Context
    ) -> users_service_pb2.BatchGetUsersResponse:
        view = _view(request.view)
        profiles = await self._accounts.get_many(list(request.ids), view, current_caller())
        return users_service_pb2.BatchGetUsersResponse(users=_messages(profiles, view))

    async def BatchGetUsersByUsername(
        self, request: users_service_pb2.BatchGetUsersByUsernameRequest, context: Context
    ) -> users_service_pb2.BatchGetUsersByUsernameResponse:
        view = _view(request.view)
        profiles = await self._accounts.get_many_by_username(
            list(request.usernames), view, current_caller()
        )
        return users_service_pb2.BatchGetUsersByUsernameResponse(users=_messages(profiles, view))

    async def StreamUsers(
        self, request: users_service_pb2.StreamUsersRequest, context: Context
    ) -> AsyncIterator[users_service_pb2.StreamUsersResponse]:
        async for batch in self._accounts.all_users(request.batch_size):
            yield users_service_pb2.StreamUsersResponse(users=[convert.basic(u) for u in batch])


def _view(view: user_pb2.UserView.ValueType) -> View:
    """Batch methods default to BASIC."""
    return View.FULL if view == user_pb2.USER_VIEW_FULL else View.BASIC


def _messages(profiles: Sequence[Profile], view: View) -> list[user_pb2.User]:
    if view is View.FULL:
        return [convert.full(profile) for profile in profiles]
    return [convert.basic(profile.user) for profile in profiles]


def _session(signed_in: SignedIn) -> user_pb2.Session:
    return user_pb2.Session(
        access_token=signed_in.token.token,
        user=convert.full(signed_in.profile),
        expire_time=convert.timestamp(signed_in.token.expire_time),
    )
