"""Chirp's Redis Cluster client (``services/platform/resp_cluster.py``) over an in-memory
cluster: slots by CRC16 and hash tags, the URL, each command routed by its keys, multi-key
commands split and put back together, redirections followed, a failover ridden out. (The real
cluster: tests/cluster/test_redis_cluster.py.)"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from services.platform.redis_clients import pubsub_client, resp_client
from services.platform.resp import Arg, Command, Resp, Script
from services.platform.resp_cluster import SLOTS, Address, ClusterResp, ClusterUrl, key_slot

A, B, C = ("127.0.0.1", 7001), ("127.0.0.1", 7002), ("127.0.0.1", 7003)


def test_a_key_slot_is_the_crc16_of_the_key_or_of_its_hash_tag() -> None:
    assert key_slot("123456789") == 12739  # the CRC16/XMODEM check value, as Redis's spec has
    assert key_slot(b"123456789") == 12739
    assert key_slot("foo") == 12182
    assert key_slot("{user1000}.following") == key_slot("{user1000}.followers")
    assert key_slot("{user1000}.following") == key_slot("user1000")
    assert key_slot("chirp:tweets:tweet:{42}") == key_slot("chirp:tweets:generation:{42}")
    assert key_slot("foo{bar}{zap}") == key_slot("bar")  # the first tag
    assert key_slot("foo{{bar}}zap") == key_slot("{bar")  # up to the first } after the {
    assert key_slot("foo{}{bar}") == key_slot("foo{}{bar}") != key_slot("bar")  # empty: whole
    assert key_slot("foo{bar") != key_slot("bar")  # no }: whole


def test_a_cluster_url_names_its_seeds_and_the_credentials_of_every_node() -> None:
    url = ClusterUrl.parse("redis+cluster://127.0.0.1:7001,127.0.0.1:7002, [::1]:7003")
    assert url.seeds == (A, B, ("::1", 7003))
    assert url.node_url(A) == "redis://127.0.0.1:7001"
    assert url.node_url(("::1", 7003)) == "redis://[::1]:7003"
    secret = ClusterUrl.parse("redis+cluster://:s%40cret@10.0.0.1:7001,10.0.0.2:7001/0")
    assert secret.seeds == (("10.0.0.1", 7001), ("10.0.0.2", 7001))
    assert secret.node_url(("10.0.0.3", 7002)) == "redis://:s%40cret@10.0.0.3:7002"
    for wrong in (
        "redis://127.0.0.1:6379/0",
        "redis+cluster://127.0.0.1:7001/1",
        "redis+cluster://127.0.0.1",
        "redis+cluster://",
    ):
        with pytest.raises(ValueError, match=r"\w"):
            ClusterUrl.parse(wrong)


async def test_the_url_chooses_the_client() -> None:
    single = resp_client("redis://127.0.0.1:6379/0")
    cluster = resp_client("redis+cluster://127.0.0.1:7001,127.0.0.1:7002", timeout=0.5)
    assert isinstance(single, Resp)
    assert isinstance(cluster, ClusterResp)
    one = pubsub_client("redis://127.0.0.1:6379/0").connection_pool
    assert (one.connection_class, one.connection_kwargs["port"]) == (Connection, 6379)
    seeded = pubsub_client("redis+cluster://127.0.0.1:7001,127.0.0.1:7002").connection_pool
    assert issubclass(seeded.connection_class, Connection)
    assert seeded.connection_kwargs["seeds"] == (A, B)  # tried in turn on each connect
    await asyncio.gather(one.aclose(), seeded.aclose())
    await asyncio.gather(single.aclose(), cluster.aclose())


class FakeCluster:
    """Three masters sharing the slots as ``redis-cli --cluster create`` gives them, one
    key-value store, each node answering MOVED for the slots it does not serve."""

    def __init__(self) -> None:
        thirds = [(0, 5460, A), (5461, 10922, B), (10923, SLOTS - 1, C)]
        self.owner = [address for lo, hi, address in thirds for _ in range(lo, hi + 1)]
        self.data: dict[str, Any] = {}
        self.nodes = {address: FakeNode(self, address) for address in (A, B, C)}
        self.scripts: dict[str, Callable[[Sequence[Arg], Sequence[Arg]], Any]] = {}
        #: Slots being migrated: their owner answers ASK, naming this node.
        self.migrating: dict[int, Address] = {}

    def connect(self, address: Address) -> FakeNode:
        return self.nodes[address]

    def slots_reply(self, view: list[Address] | None = None) -> list[Any]:
        """``CLUSTER SLOTS`` from the owners in ``view`` (a node's that has not heard of a
        change yet), or the cluster's."""
        ranges: list[Any] = []
        for slot, owner in enumerate(self.owner if view is None else view):
            if ranges and ranges[-1][2][:2] == [owner[0].encode(), owner[1]]:
                ranges[-1][1] = slot
            else:
                ranges.append([slot, slot, [owner[0].encode(), owner[1], b"id"]])
        return ranges

    def move(self, source: Address, target: Address) -> None:
        self.owner = [target if owner == source else owner for owner in self.owner]

    def script(self, source: str, run: Callable[[Sequence[Arg], Sequence[Arg]], Any]) -> Script:
        script = Script(source)
        self.scripts[script.sha] = run
        return script


def _error(message: str) -> hiredis.ReplyError:
    return hiredis.ReplyError(message)


class FakeNode:
    def __init__(self, cluster: FakeCluster, address: Address) -> None:
        self.cluster = cluster
        self.address = address
        self.down = False
        #: The slot owners this node's map names, if it has not heard of the last change.
        self.view: list[Address] | None = None
        #: How long this node takes to answer for its map.
        self.map_seconds = 0.0
        self.loaded: set[str] = set()
        self.sent: list[list[Command]] = []

    async def replies(self, commands: Sequence[Command]) -> list[Any]:
        self.sent.append(list(commands))
        if self.down:
            raise RedisConnectionError(f"connection to {self.address} refused")
        if commands[0][0] == "CLUSTER":
            await asyncio.sleep(self.map_seconds)
        replies: list[Any] = []
        asking, aborted = False, False
        queued: list[Command] | None = None
        for command in commands:
            name = str(command[0])
            if name == "ASKING":
                asking = True
                replies.append(b"OK")
                continue
            refused = self._refused(command, asking=asking)
            asking = False
            if name == "MULTI":
                queued, aborted = [], False
                replies.append(b"OK")
            elif name == "EXEC":
                batch, queued = queued or [], None
                if aborted:
                    replies.append(_error("EXECABORT Transaction discarded"))
                else:
                    replies.append([self._run(each) for each in batch])
            elif refused is not None:
                aborted = queued is not None
                replies.append(refused)
            elif queued is not None:
                queued.append(command)
                replies.append(b"QUEUED")
            else:
                replies.append(self._run(command))
        return replies

    def _refused(self, command: Command, *, asking: bool) -> hiredis.ReplyError | None:
        """As Redis refuses a command whose keys are not all in one slot of this node's."""
        slots = {key_slot(key) for key in _keys(command)}
        if len(slots) > 1:
            return _error("CROSSSLOT Keys in request don't hash to the same slot")
        slot = slots.pop() if slots else None
        owner = None if slot is None else self.cluster.owner[slot]
        target = None if slot is None else self.cluster.migrating.get(slot)
        if owner == self.address and target is not None:
            return _error(f"ASK {slot} {target[0]}:{target[1]}")
        if owner in {None, self.address} or (asking and target == self.address):
            return None
        assert owner is not None
        return _error(f"MOVED {slot} {owner[0]}:{owner[1]}")

    def _run(self, command: Command) -> Any:
        name, args = str(command[0]), [str(arg) for arg in command[1:]]
        data = self.cluster.data
        if name == "EVALSHA":
            sha, count = args[0], int(args[1])
            if sha not in self.loaded:
                return _error("NOSCRIPT No matching script. Please use EVAL.")
            return self.cluster.scripts[sha](command[3 : 3 + count], command[3 + count :])
        if name == "SCRIPT":
            sha = hashlib.sha1(args[1].encode(), usedforsecurity=False).hexdigest()
            self.loaded.add(sha)
            return sha.encode()
        found = [key for key in args if key in data]
        run: dict[str, Callable[[], Any]] = {
            "CLUSTER": lambda: self.cluster.slots_reply(self.view),
            "PING": lambda: b"PONG",
            "SET": lambda: data.update({args[0]: command[2]}) or b"OK",
            "GET": lambda: data.get(args[0]),
            "INCR": lambda: data.update({args[0]: int(data.get(args[0], 0)) + 1}) or data[args[0]],
            "MGET": lambda: [data.get(key) for key in args],
            "EXISTS": lambda: len(found),
            "DEL": lambda: len([data.pop(key) for key in found]),
        }
        return run[name]()

    async def aclose(self) -> None:
        pass


def _keys(command: Command) -> Sequence[Arg]:
    name = str(command[0])
    if name in {"MGET", "DEL", "EXISTS"}:
        return command[1:]
    if name == "EVALSHA":
        return command[3 : 3 + int(command[2])]
    return command[1:2] if name in {"GET", "SET", "INCR"} else ()


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


def _client(cluster: FakeCluster, timeout: float = 5.0) -> ClusterResp:
    return ClusterResp(ClusterUrl((A, B)), timeout=timeout, connect=cluster.connect)


def _keys_on(node: Address, cluster: FakeCluster, count: int, prefix: str = "k") -> list[str]:
    keys = (f"{prefix}:{i}" for i in range(10_000))
    return [key for key in keys if cluster.owner[key_slot(key)] == node][:count]


def _sent(cluster: FakeCluster) -> dict[Address, list[list[Command]]]:
    """What each node was sent, the reads of the slot map left out."""
    return {
        address: [batch for batch in node.sent if batch[0][0] != "CLUSTER"]
        for address, node in cluster.nodes.items()
    }


async def test_a_pipeline_is_one_batch_per_node_and_answers_in_the_callers_order(
    cluster: FakeCluster,
) -> None:
    client = _client(cluster)
    a, b, c = (_keys_on(node, cluster, 2) for node in (A, B, C))
    commands: list[Command] = [("SET", key, key.upper()) for key in (a[0], b[0], c[0], a[1])]
    assert await client.pipeline(commands) == [b"OK"] * 4
    assert await client.pipeline([("GET", key) for key in (c[0], a[1], b[0], a[0])]) == [
        key.upper() for key in (c[0], a[1], b[0], a[0])
    ]
    sent = _sent(cluster)
    assert [len(batches) for batches in sent.values()] == [2, 2, 2]  # one per pipeline
    assert sent[A][0] == [("SET", a[0], a[0].upper()), ("SET", a[1], a[1].upper())]
    assert await client.call("PING") == b"PONG"  # no key: any master


async def test_multi_key_commands_are_split_per_slot_and_put_back_together(
    cluster: FakeCluster,
) -> None:
    client = _client(cluster)
    keys = [f"mget:{i}" for i in range(50)]
    assert len({cluster.owner[key_slot(key)] for key in keys}) == 3
    await client.pipeline([("SET", key, index) for index, key in enumerate(keys)])
    wanted = [*reversed(keys), "missing"]

    assert await client.call("MGET", *wanted) == [*range(49, -1, -1), None]
    assert await client.call("EXISTS", *wanted) == 50
    assert await client.call("DEL", *keys[:10], "missing") == 10
    assert await client.call("MGET", keys[0], keys[10]) == [None, 10]


async def test_a_transaction_stays_together_on_its_slot(cluster: FakeCluster) -> None:
    client = _client(cluster)
    key, other = "{ada}:count", "{ada}:name"
    replies = await client.pipeline(
        [("GET", "x"), ("MULTI",), ("INCR", key), ("SET", other, b"ada"), ("EXEC",), ("PING",)]
    )
    assert replies == [None, b"OK", b"QUEUED", b"QUEUED", [1, b"OK"], b"PONG"]
    owner = cluster.owner[key_slot(key)]
    assert [("MULTI",), ("INCR", key), ("SET", other, b"ada"), ("EXEC",)] in [
        batch[-4:] for batch in _sent(cluster)[owner]
    ]
    with pytest.raises(ValueError, match="span hash slots"):
        await client.pipeline([("MULTI",), ("INCR", "a"), ("INCR", "b"), ("EXEC",)])
    with pytest.raises(ValueError, match="without its EXEC"):
        await client.pipeline([("MULTI",), ("INCR", "a")])


async def test_scripts_go_by_their_keys_and_are_loaded_where_missing(
    cluster: FakeCluster,
) -> None:
    client = _client(cluster)
    echo = cluster.script("return KEYS", lambda keys, _args: [str(k).encode() for k in keys])
    a, c = _keys_on(A, cluster, 1)[0], _keys_on(C, cluster, 1)[0]
    cluster.nodes[C].loaded.add(echo.sha)  # only C knows it already

    assert await client.run_each(echo, [([a], []), ([c], []), ([f"{{{a}}}x", a], [])]) == [
        [a.encode()],
        [c.encode()],
        [f"{{{a}}}x".encode(), a.encode()],
    ]
    loads = [[b for b in _sent(cluster)[node] if b[0][0] == "SCRIPT"] for node in (A, B, C)]
    assert [len(batches) for batches in loads] == [1, 0, 0]
    with pytest.raises(ValueError, match="span hash slots"):
        await client.run(echo, [a, c], [])
    failing = cluster.script("return error", lambda _keys, _args: _error("ERR boom"))
    with pytest.raises(ResponseError, match="boom"):
        await client.run(failing, [a], [])


async def test_slot_groups_put_together_what_one_script_call_can_take(
    cluster: FakeCluster,
) -> None:
    keys = ["{1}a", "b", "{1}c", "d"]
    groups = _client(cluster).slot_groups(keys)
    assert sorted(map(sorted, groups)) == sorted([["{1}a", "{1}c"], ["b"], ["d"]])
    assert Resp().slot_groups(keys) == [keys]


async def test_moved_reads_the_map_again_and_ask_is_followed_once(cluster: FakeCluster) -> None:
    client = _client(cluster)
    key = _keys_on(A, cluster, 1)[0]
    await client.call("SET", key, b"one")
    cluster.move(A, B)  # a reshard, as the client learns from MOVED
    assert await client.call("GET", key) == b"one"
    assert await client.call("GET", key) == b"one"
    moved = [batch for batch in _sent(cluster)[A] if batch == [("GET", key)]]
    assert len(moved) == 1  # the second read went straight to the new owner

    slot = key_slot(key)
    cluster.migrating[slot] = C
    assert await client.call("GET", key) == b"one"
    assert [("ASKING",), ("GET", key)] in _sent(cluster)[C]


async def test_after_a_move_the_map_comes_from_the_new_owner(cluster: FakeCluster) -> None:
    """A failover just done: the old master and a third node still map the slots to the old
    master and answer first; only the promoted replica knows."""
    client = _client(cluster)
    key = _keys_on(A, cluster, 1)[0]
    await client.call("SET", key, 0)
    before = list(cluster.owner)
    cluster.move(A, B)
    for stale in (A, C):
        cluster.nodes[stale].view = before
    cluster.nodes[B].map_seconds = 0.05
    assert await client.call("INCR", key) == 1
    assert await client.call("INCR", key) == 2
    incremented = [batch for batch in _sent(cluster)[A] if batch == [("INCR", key)]]
    assert len(incremented) == 1  # the map read after the MOVED sent the rest to B


async def test_a_failover_is_ridden_out(cluster: FakeCluster) -> None:
    client = _client(cluster)
    key = _keys_on(A, cluster, 1)[0]
    await client.call("SET", key, b"kept")
    cluster.nodes[A].down = True
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, cluster.move, A, C)  # the replica, promoted
    started = loop.time()

    assert await client.call("GET", key) == b"kept"
    assert 0.3 <= loop.time() - started < 1.0


async def test_a_node_that_stays_away_fails_the_call_after_the_timeout(
    cluster: FakeCluster,
) -> None:
    client = _client(cluster, timeout=0.3)
    key = _keys_on(A, cluster, 1)[0]
    other = _keys_on(B, cluster, 1)[0]
    await client.call("SET", other, b"fine")
    cluster.nodes[A].down = True
    started = asyncio.get_running_loop().time()

    with pytest.raises(RedisConnectionError, match="refused"):
        await client.pipeline([("GET", other), ("GET", key)])
    assert 0.3 <= asyncio.get_running_loop().time() - started < 0.6
    assert await client.call("GET", other) == b"fine"


async def test_no_node_answering_is_a_connection_error(cluster: FakeCluster) -> None:
    for node in cluster.nodes.values():
        node.down = True
    with pytest.raises(RedisConnectionError):
        await _client(cluster, timeout=0.2).call("GET", "a")
