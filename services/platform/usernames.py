"""Usernames: the one rule that compares them, and names to account ids remembered.

A username is 1 to 15 ASCII letters, digits or underscores (``is_username``, the rule the users
service registers by, search parses ``from:`` and ``@`` by, and tweets finds mentions by), and
usernames compare case-insensitively everywhere (``fold``): the users service claims the folded
name, and tweets (mentions), graph (follows by name) and search (authors, mentions) look names up
folded.

Usernames never change (UpdateUser changes only display_name and bio), but an account can be
deleted, and after a quarantine its name registered again by someone else.

``UsernameIds`` keeps the answers of a lookup in a bounded LRU (``CACHED_NAMES``) for
``KEPT_SECONDS`` and makes concurrent lookups of one name share one call: a burst of follows of
one account, or of reads of one account's tweets, asks the users service once. Names not found
are not remembered (they may be registered a moment later), and a name whose account was deleted
is forgotten as soon as this process hears of the deletion (``revocations.REVOKED``, which holds
a deleted account for longer than ``KEPT_SECONDS``), so a follow or a mention by name never
reaches a deleted account.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Container

from services.platform import revocations

#: How many username -> id answers a process remembers, and for how long (far less than a
#: deleted account's tokens are revoked for: a name is forgotten before its deletion is).
CACHED_NAMES = 50_000
KEPT_SECONDS = 600.0


#: What a username is: 1 to 15 ASCII letters, digits or underscores (as on Twitter).
USERNAME_MAX = 15
USERNAME_CHARS = "A-Za-z0-9_"
_USERNAME = re.compile(rf"[{USERNAME_CHARS}]{{1,{USERNAME_MAX}}}", re.ASCII)


def is_username(text: str) -> bool:
    return _USERNAME.fullmatch(text) is not None


def fold(username: str) -> str:
    """The case-insensitive key of a username."""
    return username.casefold()


class UsernameIds:
    def __init__(
        self,
        lookup: Callable[[str], Awaitable[int | None]],
        deleted: Container[int] = revocations.REVOKED,
    ) -> None:
        """``lookup`` answers a folded username with its account's id, or None; ``deleted``
        holds the accounts deleted lately."""
        self._lookup = lookup
        self._deleted = deleted
        self._ids: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._asking: dict[str, asyncio.Future[int | None]] = {}

    async def id_of(self, folded: str) -> int | None:
        if (known := self._ids.get(folded)) is not None:
            kept_id, until = known
            if time.monotonic() < until and kept_id not in self._deleted:
                self._ids.move_to_end(folded)
                return kept_id
            del self._ids[folded]
        if (asking := self._asking.get(folded)) is None:
            asking = asyncio.ensure_future(self._lookup(folded))
            self._asking[folded] = asking
            asking.add_done_callback(lambda _: self._asking.pop(folded, None))
        user_id = await asyncio.shield(asking)
        if user_id is not None:
            self._ids[folded] = (user_id, time.monotonic() + KEPT_SECONDS)
            self._ids.move_to_end(folded)
            while len(self._ids) > CACHED_NAMES:
                self._ids.popitem(last=False)
        return user_id
