"""Backing up a JetStream stream and restoring it (``devstack/backup/jetstream.py``) on the local
NATS: a restored stream has the messages and the consumers of its backup, also when the stream
was written to during the backup, and a restore never replaces a stream that holds messages.

Every test works on a scratch stream of its own (``BACKUP_TEST_<hex>``, file storage, two
subjects, ``MESSAGES`` messages, a durable pull consumer that has acknowledged ``ACKED`` of them),
which its fixture deletes: never on the stack's stream."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from devstack.backup.jetstream import StreamBackupError, back_up_stream, restore_stream
from services.platform.background import in_background, rounds
from services.platform.consumers import close_connection, connect
from services.platform.settings import StoreSettings
from tests.polling import eventually

MESSAGES = 2_000
PAYLOAD_BYTES = 300
#: Messages the consumer has acknowledged (the first ones, in order) when a test begins.
ACKED = 300
CONSUMER = "backup-test-reader"
#: nats-server's default of bytes in flight (chunks not yet acked) when it sends a snapshot.
SNAPSHOT_WINDOW_BYTES = 8 * 1024 * 1024
#: What the test of a backup while the stream is written to writes, and how much before it.
LARGE_PAYLOAD_BYTES = 64 * 1024
LARGE_STREAM_BYTES = 2 * SNAPSHOT_WINDOW_BYTES


@dataclass
class Scratch:
    """A scratch stream, and the payload of each message stored in it by sequence."""

    name: str
    subjects: tuple[str, str]
    payloads: dict[int, bytes] = field(default_factory=dict)


@pytest.fixture
async def connection() -> AsyncIterator[Client]:
    connection = await connect(StoreSettings().nats_url)
    yield connection
    await close_connection(connection)


@pytest.fixture
async def scratch(connection: Client) -> AsyncIterator[Scratch]:
    """A scratch stream of ``MESSAGES`` messages on two subjects, read by ``CONSUMER`` up to
    ``ACKED``; deleted afterwards, whatever the test left of it."""
    tag = uuid.uuid4().hex[:10]
    stream = Scratch(f"BACKUP_TEST_{tag}", (f"backup_test.{tag}.a", f"backup_test.{tag}.b"))
    jsm = connection.jsm()
    await jsm.add_stream(
        StreamConfig(name=stream.name, subjects=list(stream.subjects), storage=StorageType.FILE)
    )
    try:
        for index in range(MESSAGES):
            await publish(connection, stream, stream.subjects[index % 2])
        await jsm.add_consumer(
            stream.name, ConsumerConfig(durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT)
        )
        reader = await connection.jetstream().pull_subscribe_bind(CONSUMER, stream.name)
        read = await reader.fetch(ACKED)
        assert len(read) == ACKED
        for message in read:
            await message.ack_sync()
        await reader.unsubscribe()
        yield stream
    finally:
        with contextlib.suppress(NotFoundError):
            await jsm.delete_stream(stream.name)


async def publish(
    connection: Client, stream: Scratch, subject: str, size: int = PAYLOAD_BYTES
) -> None:
    payload = os.urandom(size)  # random: the archive's compression cannot shrink it
    ack = await connection.jetstream().publish(subject, payload, stream=stream.name)
    stream.payloads[ack.seq] = payload


@dataclass
class Backup:
    """What ``back_up_stream`` wrote and returned."""

    archive: Path
    config: dict[str, Any]
    state: dict[str, Any]


async def back_up(connection: Client, stream: Scratch, directory: Path) -> Backup:
    archive = directory / f"{stream.name}.tar.s2"
    backup = await back_up_stream(connection, stream.name, archive)
    config, state = backup["config"], backup["state"]
    assert isinstance(config, dict)
    assert isinstance(state, dict)
    assert config["name"] == stream.name
    return Backup(archive, config, state)


async def restore(connection: Client, backup: Backup, *, replace_empty: bool = False) -> None:
    await restore_stream(
        connection, backup.config, backup.state, backup.archive, replace_empty=replace_empty
    )


async def test_a_restored_stream_has_the_messages_and_the_consumer_of_its_backup(
    connection: Client, scratch: Scratch, tmp_path: Path
) -> None:
    jsm = connection.jsm()
    reader = await jsm.consumer_info(scratch.name, CONSUMER)
    backup = await back_up(connection, scratch, tmp_path)
    assert backup.state["messages"] == MESSAGES
    assert (backup.state["first_seq"], backup.state["last_seq"]) == (1, MESSAGES)
    await jsm.delete_stream(scratch.name)

    await restore(connection, backup)

    state = (await jsm.stream_info(scratch.name)).state
    assert (state.messages, state.first_seq, state.last_seq) == (MESSAGES, 1, MESSAGES)
    for seq in (1, 2, MESSAGES // 2, MESSAGES):
        message = await jsm.get_msg(scratch.name, seq)
        assert message.data == scratch.payloads[seq]
        assert message.subject == scratch.subjects[(seq - 1) % 2]
    restored = await jsm.consumer_info(scratch.name, CONSUMER)
    assert restored.ack_floor.stream_seq == reader.ack_floor.stream_seq == ACKED
    assert restored.delivered.stream_seq == reader.delivered.stream_seq
    assert restored.num_pending == MESSAGES - ACKED
    # It reads on from where it was.
    resumed = await connection.jetstream().pull_subscribe_bind(CONSUMER, scratch.name)
    (following,) = await resumed.fetch(1)
    assert following.metadata.sequence.stream == ACKED + 1
    await resumed.unsubscribe()


async def test_a_backup_taken_while_the_stream_is_written_to_restores_a_whole_stream(
    connection: Client, scratch: Scratch, tmp_path: Path
) -> None:
    """Of more than the server's window of chunks in flight, so the backup must ack them."""

    async def write_on() -> None:
        # rounds(), not `while True`: Python 3.11's wait_for (in each publish's request) can
        # lose a cancellation that arrives as the reply does, and the loop would go on.
        for _ in rounds():
            await publish(connection, scratch, scratch.subjects[0], LARGE_PAYLOAD_BYTES)

    jsm = connection.jsm()
    async with in_background(write_on):
        await eventually(
            lambda: jsm.stream_info(scratch.name),
            lambda info: info.state.bytes >= LARGE_STREAM_BYTES,
        )
        backup = await back_up(connection, scratch, tmp_path)
        assert backup.archive.stat().st_size > SNAPSHOT_WINDOW_BYTES
        await eventually(
            lambda: jsm.stream_info(scratch.name),
            lambda info: info.state.last_seq >= backup.state["last_seq"] + 10,
        )
    await jsm.delete_stream(scratch.name)

    await restore(connection, backup)

    # The snapshot may hold messages stored after its state was taken, never a gap.
    state = (await jsm.stream_info(scratch.name)).state
    assert state.first_seq == 1
    assert state.messages == state.last_seq >= backup.state["last_seq"] > MESSAGES
    last = await jsm.get_msg(scratch.name, state.last_seq)
    assert last.data == scratch.payloads[state.last_seq]
    reader = await jsm.consumer_info(scratch.name, CONSUMER)
    assert reader.ack_floor.stream_seq == ACKED


async def test_a_restore_over_a_stream_with_messages_is_refused(
    connection: Client, scratch: Scratch, tmp_path: Path
) -> None:
    backup = await back_up(connection, scratch, tmp_path)
    await publish(connection, scratch, scratch.subjects[1])

    for replace_empty in (False, True):
        with pytest.raises(StreamBackupError, match=f"{MESSAGES + 1} messages"):
            await restore(connection, backup, replace_empty=replace_empty)

    state = (await connection.jsm().stream_info(scratch.name)).state
    assert (state.messages, state.last_seq) == (MESSAGES + 1, MESSAGES + 1)


async def test_a_restore_replaces_an_empty_stream_only_when_asked(
    connection: Client, scratch: Scratch, tmp_path: Path
) -> None:
    backup = await back_up(connection, scratch, tmp_path)
    jsm = connection.jsm()
    await jsm.purge_stream(scratch.name)

    with pytest.raises(StreamBackupError, match="0 messages"):
        await restore(connection, backup)
    await restore(connection, backup, replace_empty=True)

    state = (await jsm.stream_info(scratch.name)).state
    assert (state.messages, state.first_seq, state.last_seq) == (MESSAGES, 1, MESSAGES)
