"""A write and a read through each real server with the project's own drivers, and the schema."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import nats
import pytest
import redis
from cassandra.cluster import Session
from nats.js.api import AckPolicy, ConsumerConfig

from devstack.paths import PYTHON, ROOT
from services.platform import graph_db
from services.platform.consumers import connect
from services.platform.events import CONSUMERS, STREAM
from services.platform.migrate import migration_files
from services.platform.redis_clients import redis_py_tls_options
from services.platform.settings import StoreSettings

SETTINGS = StoreSettings()


def test_cassandra_writes_and_reads_with_lightweight_transactions(session: Session) -> None:
    name = f"smoke_{uuid.uuid4().hex[:12]}"
    claimed = session.execute(
        "INSERT INTO users_by_username (username_folded, user_id) VALUES (%s, %s) IF NOT EXISTS",
        (name, 1),
    ).one()
    again = session.execute(
        "INSERT INTO users_by_username (username_folded, user_id) VALUES (%s, %s) IF NOT EXISTS",
        (name, 2),
    ).one()
    try:
        assert claimed.applied
        assert not again.applied
        row = session.execute(
            "SELECT user_id FROM users_by_username WHERE username_folded = %s", (name,)
        ).one()
        assert row.user_id == 1
    finally:
        session.execute("DELETE FROM users_by_username WHERE username_folded = %s", (name,))


def test_every_cql_migration_is_recorded(session: Session) -> None:
    applied = {row.version for row in session.execute("SELECT version FROM schema_migrations")}
    assert applied == {version for version, _ in migration_files(".cql")}
    tables = {
        row.table_name
        for row in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
            (SETTINGS.cassandra_keyspace,),
        )
    }
    assert {"users", "users_by_username", "tweets", "user_tweets", "tweet_counters"} <= tables


def test_neo4j_writes_reads_and_enforces_constraints() -> None:
    user_id = uuid.uuid4().int >> 65  # a positive 63-bit id no other test uses
    with graph_db.driver(SETTINGS) as driver:
        try:
            driver.execute_query("CREATE (:User {id: $id, username: 'smoke'})", id=user_id)
            records, _, _ = driver.execute_query(
                "MATCH (u:User {id: $id}) RETURN u.username AS username", id=user_id
            )
            assert [record["username"] for record in records] == ["smoke"]
            with pytest.raises(Exception, match="already exists"):
                driver.execute_query("CREATE (:User {id: $id})", id=user_id)
            migrations, _, _ = driver.execute_query(
                "MATCH (m:SchemaMigration) RETURN m.version AS version"
            )
            assert {r["version"] for r in migrations} == {v for v, _ in migration_files(".cypher")}
        finally:
            driver.execute_query("MATCH (u:User {id: $id}) DETACH DELETE u", id=user_id)


def test_redis_writes_and_reads() -> None:
    key = f"smoke:{uuid.uuid4().hex}"
    url = SETTINGS.redis_url
    with redis.Redis.from_url(url, **redis_py_tls_options(url)) as client:
        client.zadd(key, {"b": 2, "a": 1})
        client.expire(key, 60)
        assert client.zrevrange(key, 0, -1) == [b"b", b"a"]
        client.delete(key)


async def test_jetstream_stores_events_and_delivers_them_to_a_durable_consumer() -> None:
    connection = await connect(SETTINGS.nats_url)
    jetstream = connection.jetstream()
    durable = f"smoke-{uuid.uuid4().hex[:8]}"
    subject = "users.created"
    event_id = uuid.uuid4().hex
    try:
        await jetstream.add_consumer(
            STREAM.name or "",
            ConsumerConfig(
                durable_name=durable,
                filter_subject=subject,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=nats.js.api.DeliverPolicy.NEW,
            ),
        )
        first = await jetstream.publish(subject, b"payload", headers={"Nats-Msg-Id": event_id})
        retried = await jetstream.publish(subject, b"payload", headers={"Nats-Msg-Id": event_id})
        assert first.stream == STREAM.name
        assert retried.duplicate  # a retried publish of the same event is stored once

        subscription = await jetstream.pull_subscribe_bind(durable, stream=STREAM.name)
        messages = await subscription.fetch(1, timeout=5)
        assert [message.data for message in messages] == [b"payload"]
        await messages[0].ack_sync()
        with pytest.raises(asyncio.TimeoutError):
            await subscription.fetch(1, timeout=0.5)  # acknowledged: not delivered again
    finally:
        await jetstream.delete_consumer(STREAM.name or "", durable)
        await connection.close()


async def test_the_stream_and_its_durable_consumers_exist() -> None:
    connection = await connect(SETTINGS.nats_url)
    try:
        jetstream = connection.jetstream()
        info = await jetstream.stream_info(STREAM.name or "")
        assert set(info.config.subjects or []) == {
            "tweets.>",
            "graph.>",
            "users.>",
            "media.>",
            "timelines.>",
        }
        for consumer in CONSUMERS:
            found = await jetstream.consumer_info(STREAM.name or "", consumer.durable_name or "")
            assert found.config.filter_subjects == consumer.filter_subjects
            assert found.config.max_deliver == consumer.max_deliver  # unlimited
    finally:
        await connection.close()


def test_migrating_again_changes_nothing() -> None:
    result = subprocess.run(
        [str(PYTHON), "-m", "services.platform.migrate"],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert '"applied": []' in result.stdout
    assert result.stdout.count('"applied": []') == 2  # neither Cassandra nor Neo4j applied anything
