"""The load's progress bar: redrawn in place on a terminal, a line per tenth elsewhere."""

from __future__ import annotations

import io

from benchmarks.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_at_the_start_and_per_tenth_of_the_way() -> None:
    out = io.StringIO()
    progress = Progress("accounts", 200, out)
    for _ in range(200):
        progress.advance()
    progress.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11
    assert " 1/200   0%" in lines[0]
    assert lines[1].startswith("  accounts [###...")
    assert " 20/200  10%" in lines[1]
    assert lines[-1].startswith(f"  accounts [{'#' * 30}] 200/200 100%")


def test_a_terminal_gets_one_bar_redrawn_in_place() -> None:
    out = Terminal()
    progress = Progress("tweets", 3, out)
    for _ in range(3):
        progress.advance()
    progress.finish()
    text = out.getvalue()
    assert text.startswith("\r  tweets [")
    assert text.endswith("3/3 100% 0s\n")
    assert text.count("\n") == 1
