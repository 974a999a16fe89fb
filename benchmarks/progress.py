"""A progress bar for a person waiting on a long load: redrawn in place on a terminal, a line
per tenth of the way otherwise (a log, CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30
#: A terminal's bar is redrawn at most this often.
REDRAW_SECONDS = 0.2


class Progress:
    def __init__(self, label: str, total: int, out: TextIO = sys.stdout) -> None:
        self._label = label
        self._total = max(total, 1)
        self._out = out
        self._done = 0
        self._started = time.monotonic()
        self._drawn_at = float("-inf")
        self._tenths_said = -1
        self._live = out.isatty()

    def advance(self, count: int = 1) -> None:
        self._done += count
        now = time.monotonic()
        tenths = 10 * self._done // self._total
        if self._live and (now - self._drawn_at >= REDRAW_SECONDS or self._done >= self._total):
            self._drawn_at = now
            self._out.write("\r" + self.line())
            self._out.flush()
        elif not self._live and tenths > self._tenths_said:
            self._tenths_said = tenths
            self._out.write(self.line() + "\n")
            self._out.flush()

    def line(self) -> str:
        share = min(self._done / self._total, 1.0)
        filled = round(WIDTH * share)
        elapsed = time.monotonic() - self._started
        left = elapsed / share - elapsed if share else 0.0
        return (
            f"  {self._label} [{'#' * filled}{'.' * (WIDTH - filled)}] "
            f"{self._done:,}/{self._total:,} {share:4.0%} {elapsed:.0f}s"
            + (f", ~{left:.0f}s left" if 0 < share < 1 else "")
        )

    def finish(self) -> None:
        if self._live:
            self._out.write("\n")
            self._out.flush()
