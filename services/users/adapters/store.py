"""Accounts in Cassandra/ScyllaDB: ``users`` by id, ``users_by_username`` by folded name.

Every statement runs at LOCAL_QUORUM (LOCAL_SERIAL for the name claims), so an account is
readable from any replica once its registration was acknowledged. Writes that publish an event
add it to the outbox in the same logged batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from cassandra import ConsistencyLevel, RequestValidationException
from cassandra import Unavailable as ReplicasUnavailable
from cassandra.cluster import NoHostAvailable, Session
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, PreparedStatement
from google.protobuf.field_mask_pb2 import FieldMask

from services.platform.cql import execute, insert_if_absent
from services.platform.outbox import Outbox, new_event_id
from services.platform.subjects import USERS_CREATED, USERS_DELETED, USERS_UPDATED
from services.platform.usernames import fold
from services.users import convert
from services.users.model import Deletion, NotWritten, User

#: Revocations read per page.
_REVOCATIONS_PAGE = 1000
#: The lowest Murmur3 token: a full scan starts after it.
_MIN_TOKEN = -(2**63)


class CassandraUserStore:
    def __init__(self, session: Session, outbox: Outbox) -> None:
        self._session = session
        self._outbox = outbox
        self._claim = self._prepare(
            "INSERT INTO users_by_username (username_folded, user_id) VALUES (?, ?) IF NOT EXISTS"
        )
        self._release = self._prepare(
            "DELETE FROM users_by_username WHERE username_folded = ? IF user_id = ?"
        )
        self._find_id = self._prepare(
            "SELECT user_id FROM users_by_username WHERE username_folded = ?"
        )
        self._insert = self._prepare(
            "INSERT INTO users (id, username, display_name, bio, password_hash, create_time, "
            "update_time) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        self._update = self._prepare(
            "UPDATE users SET display_name = ?, bio = ?, update_time = ? WHERE id = ?"
        )
        self._select = self._prepare(
            "SELECT id, username, display_name, bio, create_time, update_time "
            "FROM users WHERE id = ?"
        )
        self._select_hash = self._prepare("SELECT password_hash FROM users WHERE id = ?")
        self._delete = self._prepare("DELETE FROM users WHERE id = ?")
        # Rewritten without a condition, with a TTL: the claim stays (a registration's IF NOT
        # EXISTS fails) until the quarantine ends, then the row expires and the name is free.
        self._quarantine = self._prepare(
            "INSERT INTO users_by_username (username_folded, user_id) VALUES (?, ?) USING TTL ?"
        )
        self._revoke = self._prepare(
            "INSERT INTO account_revocations (shard, user_id, expire_time) VALUES (0, ?, ?) "
            "USING TTL ?"
        )
        self._revocations = self._prepare(
            "SELECT user_id, expire_time FROM account_revocations WHERE shard = 0 AND user_id > ? "
            "LIMIT ?"
        )
        self._scan = self._prepare(
            "SELECT token(id) AS position, id, username, display_name, bio, create_time, "
            "update_time FROM users WHERE token(id) > ? LIMIT ?"
        )

    def _prepare(self, query: str) -> PreparedStatement:
        statement = self._session.prepare(query)
        statement.consistency_level = ConsistencyLevel.LOCAL_QUORUM
        statement.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        return statement

    async def claim_username(self, username_folded: str, user_id: int) -> bool:
        row = await insert_if_absent(self._session, self._claim, (username_folded, user_id))
        return bool(row.applied) or row.user_id == user_id

    async def release_username(self, username_folded: str, user_id: int) -> None:
        await execute(self._session, self._release, (username_folded, user_id))

    async def create(self, user: User, password_hash: str) -> None:
        batch = self._batch()
        batch.add(
            self._insert,
            (
                user.id,
                user.username,
                user.display_name,
                user.bio,
                password_hash,
                user.create_time,
                user.update_time,
            ),
        )
        event = USERS_CREATED.type(
            event_id=new_event_id(),
            occur_time=convert.timestamp(user.create_time),
            user=convert.basic(user),
        )
        row = self._outbox.add(batch, USERS_CREATED, event)
        try:
            await execute(self._session, batch)
        except (ReplicasUnavailable, NoHostAvailable, RequestValidationException) as error:
            # Refused before anything was applied. A timeout is not among these: a logged
            # batch that timed out may still be applied from the batch log.
            raise NotWritten(str(error)) from error
        self._outbox.committed(row)

    async def update_profile(self, user: User, changed: Sequence[str]) -> None:
        batch = self._batch()
        batch.add(
            self._update,
            (
                user.display_name if "display_name" in changed else UNSET_VALUE,
                user.bio if "bio" in changed else UNSET_VALUE,
                user.update_time,
                user.id,
            ),
        )
        event = USERS_UPDATED.type(
            event_id=new_event_id(),
            occur_time=convert.timestamp(user.update_time),
            user=convert.basic(user),
            update_mask=FieldMask(paths=list(changed)),
        )
        row = self._outbox.add(batch, USERS_UPDATED, event)
        await execute(self._session, batch)
        self._outbox.committed(row)

    async def delete(self, user: User, deletion: Deletion) -> None:
        batch = self._batch()
        batch.add(self._delete, (user.id,))
        batch.add(
            self._quarantine,
            (fold(user.username), user.id, _seconds_until(deletion.username_released, deletion)),
        )
        batch.add(
            self._revoke,
            (
                user.id,
                deletion.sessions_revoked,
                _seconds_until(deletion.sessions_revoked, deletion),
            ),
        )
        event = USERS_DELETED.type(
            event_id=new_event_id(),
            occur_time=convert.timestamp(deletion.time),
            user_id=user.id,
            username=user.username,
        )
        row = self._outbox.add(batch, USERS_DELETED, event)
        await execute(self._session, batch)
        self._outbox.committed(row)

    async def revocations(self) -> AsyncIterator[dict[int, datetime]]:
        after = 0
        while rows := list(
            await execute(self._session, self._revocations, (after, _REVOCATIONS_PAGE))
        ):
            yield {row.user_id: _utc(row.expire_time) for row in rows}
            after = rows[-1].user_id

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        results = await asyncio.gather(
            *(execute(self._session, self._select, (user_id,)) for user_id in user_ids)
        )
        users = [_user(row) for result in results for row in result]
        return {user.id: user for user in users}

    async def find_ids(self, usernames_folded: Sequence[str]) -> dict[str, int]:
        results = await asyncio.gather(
            *(execute(self._session, self._find_id, (name,)) for name in usernames_folded)
        )
        return {
            name: row.user_id
            for name, result in zip(usernames_folded, results, strict=True)
            for row in result
        }

    async def get_password_hash(self, user_id: int) -> str | None:
        row = (await execute(self._session, self._select_hash, (user_id,))).one()
        return None if row is None else str(row.password_hash)

    async def scan(self, batch_size: int) -> AsyncIterator[list[User]]:
        """Walks the token ring in pages, so no driver paging state is needed."""
        position = _MIN_TOKEN
        while True:
            rows = list(await execute(self._session, self._scan, (position, batch_size)))
            if rows:
                yield [_user(row) for row in rows]
            if len(rows) < batch_size:
                return
            position = rows[-1].position

    @staticmethod
    def _batch() -> BatchStatement:
        return BatchStatement(
            batch_type=BatchType.LOGGED, consistency_level=ConsistencyLevel.LOCAL_QUORUM
        )


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name or "",
        bio=row.bio or "",
        create_time=_utc(row.create_time),
        update_time=_utc(row.update_time),
    )


def _seconds_until(moment: datetime, deletion: Deletion) -> int:
    """A TTL: whole seconds from the deletion to ``moment``, at least one."""
    return max(int((moment - deletion.time).total_seconds()), 1)


def _utc(moment: datetime) -> datetime:
    """The driver reads timestamps as naive UTC datetimes."""
    return moment.replace(tzinfo=UTC)
