"""The home timeline's values, in plain typed Python (a page is ``platform.paging.Page`` of
``ReadyTweet``: tweets serialized as sent)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LiveChange:
    """Ids that entered a home timeline, or left it, as its live channel announces them."""

    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
