"""Chirp's Redis client on a Redis Cluster: ``RespClient`` (``resp.py``) over one ``Resp``
connection per node, each command sent to the master of its key's hash slot. A
``rediss+cluster://`` URL reaches every node over TLS (``rediss://``), ``redis+cluster://`` in
plain text.

Routing. A key's slot is the CRC16 of the key, or of its hash tag (what is between the first
``{`` and the next ``}``, when not empty), modulo 16384; the map of slots to masters comes from
``CLUSTER SLOTS``, asked of every node known at once (the nodes of the last map and the seeds of
the URL), the first answer taken. A command goes by its first key; EVAL/EVALSHA by its keys,
which must all be in one slot; a MULTI..EXEC block of a pipeline stays together, on the slot of
its commands' keys (one slot too); MGET, DEL, EXISTS, UNLINK and TOUCH are split per slot and
their replies put back together (the values in the keys' order, or the counts summed); a
command with no key (PING, SCRIPT, ...) goes to any master. A pipeline's commands are grouped
per node, each group written to its node at once, every node concurrently, and the replies are
given back in the caller's order.

Changes. ``MOVED`` (the slot has another master) moves that slot in the map, reads the whole map
again from the slot's new master (it has the newest word on its slots, where another node may
not yet have heard of the move: a map from one of those would send the command back to the node
that gave the slot up) and sends the command again; ``ASK`` (the slot is migrating) sends it
once to the node named, after ``ASKING``. A node that cannot be reached or does not answer in
``timeout``, and a ``CLUSTERDOWN`` or ``TRYAGAIN`` answer, read the map again and send again,
``RETRY_PAUSE_SECONDS`` apart, until ``timeout`` seconds after the call began; past that, the
last failure raises (and the map just read serves the next calls). With the default 5 s that
rides out a failover, which promotes a replica once the cluster's node timeout has passed (2 s
locally): the slots of a killed master stall about 4 s and no call fails; a hung master fails
the calls it holds when they time out, and the next ones go to the promoted replica. A command
resent after its node was lost may have run there already (as with redis-py's cluster client);
Chirp's writes bear that: they are idempotent, or counts that may count one more, or a lease
that is then found taken (and another leased). A script Redis lacks (``NOSCRIPT``: a promoted
replica may not have it) is loaded on the node that lacks it, then sent again.

Errors are ``Resp``'s (redis-py's classes); a script or transaction whose keys span slots is a
``ValueError`` before anything is sent.
"""

from __future__ import annotations

import asyncio
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.platform import resp
from services.platform.resp import TIMEOUT_SECONDS, Arg, Command, Resp, Script, raise_errors

SLOTS = 16384
#: The schemes of a cluster's URL: plain text, TLS.
SCHEME, TLS_SCHEME = "redis+cluster", "rediss+cluster"
#: How long to wait before asking for the map again after a node failed to answer.
RETRY_PAUSE_SECONDS = 0.1
#: How many redirections (MOVED, ASK) one call follows before it fails with the last one.
MAX_REDIRECTIONS = 5

Address = tuple[str, int]

#: Commands that take no key: they go to any master.
KEYLESS = frozenset(
    {
        "PING", "ECHO", "TIME", "INFO", "ROLE", "DBSIZE", "LASTSAVE", "COMMAND", "CLIENT",
        "CONFIG", "DEBUG", "CLUSTER", "SCRIPT", "FUNCTION", "SLOWLOG", "PUBLISH", "WAIT",
        "RANDOMKEY", "FLUSHALL", "FLUSHDB", "MULTI", "EXEC", "DISCARD",
    }
)  # fmt: skip
SCRIPT_CALLS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO"})
#: Answers that mean the cluster is changing: the map is read again and the command resent.
_RETRIED = ("CLUSTERDOWN", "TRYAGAIN")


def key_slot(key: Arg) -> int:
    """The hash slot of ``key``: CRC16 (XMODEM, as ``binascii.crc_hqx`` computes it) of its
    hash tag if it has one, else of the whole key."""
    data = key if isinstance(key, bytes) else str(key).encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return binascii.crc_hqx(data, 0) % SLOTS


def _name(command: Command) -> str:
    head = command[0]
    return (head.decode() if isinstance(head, bytes) else str(head)).upper()


def _keys(command: Command) -> Sequence[Arg]:
    """The keys that route ``command``: none, its first, or a script's keys (all of them)."""
    name = _name(command)
    if name in KEYLESS or len(command) < 2:
        return ()
    if name in SCRIPT_CALLS:
        return command[3 : 3 + int(command[2])]
    return command[1:2]


def _common_slot(commands: Sequence[Command]) -> int | None:
    """The one slot of the keys of ``commands`` (None when they have no key); keys in two
    slots are a ``ValueError``."""
    slots = {key_slot(key) for command in commands for key in _keys(command)}
    if len(slots) > 1:
        names = " ".join(_name(command) for command in commands)
        raise ValueError(
            f"the keys of {names} span hash slots {sorted(slots)}: on a Redis Cluster a script's "
            "keys and a transaction's must share one (give them a hash tag)"
        )
    return slots.pop() if slots else None


@dataclass(frozen=True)
class ClusterUrl:
    """``redis+cluster://[[user]:password@]host:port[,host:port...]``: the seed nodes, and the
    credentials every node is given (as a ``redis://`` URL gives them); ``rediss+cluster://``
    the same, every node over TLS."""

    seeds: tuple[Address, ...]
    userinfo: str = ""
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> ClusterUrl:
        parts = urlsplit(url)
        if parts.scheme not in {SCHEME, TLS_SCHEME}:
            raise ValueError(f"not a {SCHEME}:// or {TLS_SCHEME}:// URL: {url!r}")
        if parts.path.strip("/") not in {"", "0"}:
            raise ValueError(f"a Redis Cluster has database 0 only: {url!r}")
        userinfo, _, hosts = parts.netloc.rpartition("@")
        seeds = tuple(_address(host) for host in hosts.split(",") if host.strip())
        if not seeds:
            raise ValueError(f"no seed node in {url!r}")
        return cls(seeds, userinfo, tls=parts.scheme == TLS_SCHEME)

    def node_url(self, address: Address) -> str:
        """The ``redis://`` (``rediss://``) URL of one node of the cluster."""
        host, port = address
        host = f"[{host}]" if ":" in host else host
        scheme = resp.TLS_SCHEME if self.tls else resp.SCHEME
        userinfo = f"{self.userinfo}@" if self.userinfo else ""
        return f"{scheme}://{userinfo}{host}:{port}"


def _address(host_port: str) -> Address:
    host, _, port = host_port.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"a seed node is host:port, not {host_port!r}")
    return host.strip("[]"), int(port)


class Node(Protocol):
    """One node's connection, as ``Resp`` is: raw replies, in order, errors among them."""

    async def replies(self, commands: Sequence[Command]) -> list[Any]: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Unit:
    """Commands that go together to the master of ``slot`` (any master for None), and what
    they got back."""

    commands: list[Command]
    slot: int | None
    replies: list[Any] | None = None
    #: The node an ``ASK`` named, for the next sending only.
    asking: Address | None = None
    #: Where the replies came from.
    node: Address | None = None


@dataclass(slots=True)
class _Piece:
    """What became of one command of the caller's (or of a whole MULTI..EXEC block): the units
    it was sent as, and how their replies make its own."""

    units: list[_Unit]
    join: Callable[[], list[Any]]


def _whole(commands: list[Command]) -> _Piece:
    unit = _Unit(commands, _common_slot(commands))
    return _Piece([unit], lambda: unit.replies or [])


#: Commands over many keys that are split per slot, their replies put back together.
SPLIT = frozenset({"MGET", "DEL", "EXISTS", "UNLINK", "TOUCH"})


def _split(command: Command) -> _Piece:
    """A multi-key command as one command per slot of its keys (whole if they share one): the
    values back in the keys' order (MGET), or the counts summed."""
    name, keys = _name(command), command[1:]
    positions: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        positions.setdefault(key_slot(key), []).append(index)
    if len(positions) <= 1:
        return _whole([command])
    parts = [
        (_Unit([(name, *(keys[i] for i in indexes))], slot), indexes)
        for slot, indexes in positions.items()
    ]

    def join() -> list[Any]:
        replies = [(unit.replies or [None])[0] for unit, _ in parts]
        if failed := next((r for r in replies if isinstance(r, hiredis.ReplyError)), None):
            return [failed]
        if name != "MGET":
            return [sum(replies)]
        values: list[Any] = [None] * len(keys)
        for reply, (_, indexes) in zip(replies, parts, strict=True):
            for index, value in zip(indexes, reply, strict=True):
                values[index] = value
        return [values]

    return _Piece([unit for unit, _ in parts], join)


def _plan(commands: Sequence[Command]) -> list[_Piece]:
    """How ``commands`` are sent on a cluster (see the module docstring)."""
    pieces: list[_Piece] = []
    index = 0
    while index < len(commands):
        command = commands[index]
        name = _name(command)
        if name == "MULTI":
            ends = (at for at in range(index, len(commands)) if _name(commands[at]) == "EXEC")
            end = next(ends, None)
            if end is None:
                raise ValueError("a MULTI without its EXEC in one pipeline")
            pieces.append(_whole(list(commands[index : end + 1])))
            index = end + 1
            continue
        pieces.append(_split(command) if name in SPLIT else _whole([command]))
        index += 1
    return pieces


@dataclass(slots=True)
class _Round:
    """What one sending left to do: the units that go again, the last failure among them
    (None if only redirections), the master a MOVED named (None if none did), whether any was
    redirected."""

    retried: list[_Unit] = field(default_factory=list)
    failure: Exception | None = None
    moved_to: Address | None = None
    redirected: bool = False

    def retry(self, unit: _Unit, failure: Exception) -> None:
        self.retried.append(unit)
        self.failure = failure


def _reply_error(replies: Sequence[Any], kinds: tuple[str, ...]) -> str | None:
    """The first error among ``replies`` that starts with one of ``kinds``."""
    for reply in replies:
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith(kinds):
            return str(reply)
    return None


class ClusterResp:
    """``RespClient`` on a Redis Cluster; see the module docstring."""

    def __init__(
        self,
        url: ClusterUrl,
        *,
        timeout: float = TIMEOUT_SECONDS,
        connect: Callable[[Address], Node] | None = None,
    ) -> None:
        """``connect``: a node's connection (a ``Resp`` with the URL's credentials unless
        given, as tests give in-memory nodes)."""
        self._url = url
        self._timeout = timeout
        self._connect = connect or (
            lambda address: Resp.from_url(url.node_url(address), timeout=timeout)
        )
        self._nodes: dict[Address, Node] = {}
        self._masters: list[Address | None] = [None] * SLOTS
        self._known: tuple[Address, ...] = ()
        #: Counts the maps read: a caller reads the map again only if nobody has since it
        #: routed its commands.
        self._version = 0
        self._reading = asyncio.Lock()
        self._unreadable: Exception | None = None

    @classmethod
    def from_url(cls, url: str, *, timeout: float = TIMEOUT_SECONDS) -> ClusterResp:
        return cls(ClusterUrl.parse(url), timeout=timeout)

    async def call(self, *command: Arg) -> Any:
        return (await self.pipeline([command]))[0]

    async def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        if not commands:
            return []
        pieces = _plan(commands)
        await self._send([unit for piece in pieces for unit in piece.units])
        return raise_errors(commands, [reply for piece in pieces for reply in piece.join()])

    async def run(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        return (await self.run_each(script, [(keys, args)]))[0]

    async def run_each(
        self, script: Script, calls: Sequence[tuple[Sequence[Arg], Sequence[Arg]]]
    ) -> list[Any]:
        """As ``Resp.run_each``, the script loaded on each node that lacks it."""
        commands = [("EVALSHA", script.sha, len(keys), *keys, *args) for keys, args in calls]
        if not commands:
            return []
        units = [_Unit([command], _common_slot([command])) for command in commands]
        await self._send(units)
        lacking = [unit for unit in units if _reply_error(unit.replies or [], ("NOSCRIPT",))]
        if lacking:
            nodes = {unit.node for unit in lacking if unit.node is not None}
            await asyncio.gather(*(self._load(node, script) for node in nodes))
            await self._send(lacking)
        return raise_errors(commands, [reply for unit in units for reply in unit.replies or []])

    def slot_groups(self, keys: Sequence[Arg]) -> list[list[Arg]]:
        groups: dict[int, list[Arg]] = {}
        for key in keys:
            groups.setdefault(key_slot(key), []).append(key)
        return list(groups.values())

    async def aclose(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        await asyncio.gather(*(node.aclose() for node in nodes))

    async def _load(self, address: Address, script: Script) -> None:
        command = ("SCRIPT", "LOAD", script.source)
        raise_errors([command], await self._node(address).replies([command]))

    def _node(self, address: Address) -> Node:
        node = self._nodes.get(address)
        if node is None:
            node = self._nodes[address] = self._connect(address)
        return node

    def _route(self, unit: _Unit) -> Address | None:
        if unit.asking is not None:
            return unit.asking
        if unit.slot is None:
            return next((master for master in self._masters if master is not None), None)
        return self._masters[unit.slot]

    async def _send(self, units: list[_Unit]) -> None:
        """Fills in the replies of ``units``, following redirections and riding out failovers
        (see the module docstring)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        pending, redirections, failed_rounds = units, 0, 0
        while pending:
            version = self._version
            sent = await self._round(pending, follow=redirections < MAX_REDIRECTIONS)
            redirections += sent.redirected
            if sent.failure is not None or sent.moved_to is not None:
                await self._read_map(version, sent.moved_to)  # for the calls after this one too
            if sent.failure is not None:
                if loop.time() >= deadline:
                    raise sent.failure
                if failed_rounds:
                    await asyncio.sleep(min(RETRY_PAUSE_SECONDS, deadline - loop.time()))
                failed_rounds += 1
            pending = sent.retried

    async def _round(self, units: list[_Unit], *, follow: bool) -> _Round:
        """Sends ``units`` once, each node's together, every node at once; ``follow``: whether
        redirections are followed (else their errors are the replies)."""
        sent = _Round()
        by_node: dict[Address, list[_Unit]] = {}
        for unit in units:
            if (address := self._route(unit)) is not None:
                by_node.setdefault(address, []).append(unit)
            else:
                unread = f": {self._unreadable}" if self._unreadable else ""
                sent.retry(unit, RedisConnectionError(f"no node serves slot {unit.slot}{unread}"))
        attempts = [self._attempt(address, group) for address, group in by_node.items()]
        # One node (a call's usual case) is awaited as it is: a task for it would cost more.
        failures = [await attempts[0]] if len(attempts) == 1 else await asyncio.gather(*attempts)
        for group, failure in zip(by_node.values(), failures, strict=True):
            for unit in group:
                if failure is None:
                    self._settle(unit, sent, follow=follow)
                else:
                    unit.asking = None
                    sent.retry(unit, failure)
        return sent

    async def _attempt(self, address: Address, units: list[_Unit]) -> Exception | None:
        """Sends ``units`` to the node at ``address``; the failure, if it could not."""
        try:
            await self._send_to(address, units)
        except (RedisConnectionError, RedisTimeoutError) as error:
            return error
        return None

    def _settle(self, unit: _Unit, sent: _Round, *, follow: bool) -> None:
        """Whether ``unit``'s replies are its own, or it goes again: redirected, or the cluster
        changing."""
        replies = unit.replies or []
        if redirection := _reply_error(replies, ("MOVED ", "ASK ")):
            if follow:
                kind, slot, target = redirection.split()
                if kind == "ASK":
                    unit.asking = _address(target)
                else:
                    sent.moved_to = self._masters[int(slot)] = _address(target)
                sent.redirected = True
                sent.retried.append(unit)
        elif changing := _reply_error(replies, _RETRIED):
            sent.retry(unit, RedisConnectionError(changing))

    async def _send_to(self, address: Address, units: list[_Unit]) -> None:
        commands: list[Command] = []
        for unit in units:
            if unit.asking is not None:
                commands.append(("ASKING",))
            commands.extend(unit.commands)
        replies = await self._node(address).replies(commands)
        at = 0
        for unit in units:
            at += unit.asking is not None  # ASKING's OK
            unit.asking = None
            unit.replies = replies[at : at + len(unit.commands)]
            unit.node = address
            at += len(unit.commands)

    async def _read_map(self, seen: int, owner: Address | None = None) -> None:
        """Reads the slot map again, unless someone has since version ``seen``: from ``owner``
        (a slot's new master) if it answers, else from any node; when no node answers, the old
        map stays (the next sending meets the failure)."""
        async with self._reading:
            if self._version != seen:
                return
            try:
                slots = await self._ask_owner(owner) if owner else None
                slots = slots or await self._ask_any(("CLUSTER", "SLOTS"))
            except RedisError as error:
                self._unreadable = error
                return
            masters: list[Address | None] = [None] * SLOTS
            known: list[Address] = []
            for start, end, *nodes in slots:
                addresses = [(_text(node[0]), int(node[1])) for node in nodes]
                known.extend(addresses)
                masters[start : end + 1] = [addresses[0]] * (end + 1 - start)
            self._masters, self._known = masters, tuple(dict.fromkeys(known))
            self._unreadable = None
            self._version += 1

    async def _ask_owner(self, owner: Address) -> Any:
        """``owner``'s slot map; None if it cannot answer."""
        command = ("CLUSTER", "SLOTS")
        try:
            (reply,) = raise_errors([command], await self._node(owner).replies([command]))
        except RedisError:
            return None
        return reply

    async def _ask_any(self, command: Command) -> Any:
        """``command``'s reply from whichever node answers first: the nodes of the last map and
        the seeds are all asked at once, so a dead or hung one delays nothing."""
        asked = [
            asyncio.ensure_future(self._node(address).replies([command]))
            for address in dict.fromkeys((*self._known, *self._url.seeds))
        ]
        failure: Exception = RedisConnectionError("no node of the Redis Cluster answers")
        try:
            for answer in asyncio.as_completed(asked):
                try:
                    (reply,) = raise_errors([command], await answer)
                except RedisError as error:
                    failure = error
                    continue
                if reply:  # a node outside a formed cluster serves no slot
                    return reply
        finally:
            for each in asked:
                if not each.cancel() and not each.cancelled():
                    each.exception()  # retrieved: an answer too late is no error
        raise failure


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
