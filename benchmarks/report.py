"""The results of one run: a Markdown file (every scenario next to its baseline, with the
ratio) and PNG plots of throughput and p50/p99 against the offered load, in
``benchmarks/results/`` (``benchmarks/results/quick/`` for ``--quick`` runs). Rewritten after
each benchmark, so an interrupted run keeps what it measured."""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import Options, Row
from devstack.paths import ROOT

RESULTS = ROOT / "benchmarks" / "results"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} x {cpu}, {memory:.0f} GiB, {platform.system()} {platform.release()}"


def _commit() -> str:
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or "unknown"


def _profiled(scenario: str) -> str:
    """How busy each process was in the py-spy profile of ``scenario`` (``profile.py``), if
    one was taken."""
    for path in sorted((RESULTS / "profiles").glob("*.md")):
        text = path.read_text()
        if text.startswith(f"# {scenario}:"):
            busy = re.findall(r"^## (\w+) \(busy (\d+)%\)", text, flags=re.MULTILINE)
            shares = ", ".join(f"{name} {share}%" for name, share in busy)
            return f"py-spy (profiles/{path.name}): busy {shares}."
    return ""


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "-"


@dataclass
class Report:
    options: Options
    started: float = field(default_factory=time.time)
    rows: list[Row] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: single measured figures (name -> value, and what it is), for the capacity model
    facts: dict[str, tuple[float, str]] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return RESULTS / "quick" if self.options.quick else RESULTS

    def add(self, rows: list[Row]) -> None:
        self.rows.extend(rows)

    def section(self, title: str, markdown: str) -> None:
        self.sections.append((title, markdown))

    def fact(self, name: str, value: float, what: str) -> None:
        self.facts[name] = (value, what)

    def row(self, group: str, scenario: str, target: str | None = None) -> Row | None:
        """The measured (not baseline) row of that scenario without an offered rate."""
        for row in self.rows:
            same = (row.group, row.scenario) == (group, scenario) and row.offered is None
            if same and (row.target == target or (target is None and row.target != "baseline")):
                return row
        return None

    def note(self, text: str) -> None:
        print(text, flush=True)
        self.notes.append(text)

    def _pairs(self, *, offered: bool) -> list[tuple[Row, Row | None]]:
        """(measured row, its baseline row) in the order measured."""
        baselines = {
            (row.group, row.scenario, row.offered): row
            for row in self.rows
            if row.target == "baseline"
        }
        return [
            (row, baselines.get((row.group, row.scenario, row.offered)))
            for row in self.rows
            if row.target != "baseline" and (row.offered is not None) == offered
        ]

    def table(self, *, offered: bool) -> str:
        first = "| group | scenario | " + ("offered rps | " if offered else "")
        lines = [
            first + "baseline | rps | p50 ms | p99 ms | errors | baseline rps | baseline p50 ms "
            "| baseline p99 ms | ratio (rps) |",
            "|" + "---|" * (first.count("|") + 8),
        ]
        for row, base in self._pairs(offered=offered):
            r = row.result
            b = base.result if base else None
            lines.append(
                f"| {row.group} | {row.scenario} | "
                + (f"{row.offered:,} | " if offered else "")
                + f"{row.baseline} | {r.rps:,.0f} | {_ms(r.p50_ms)} | {_ms(r.p99_ms)} | "
                f"{r.errors:,} | "
                + (
                    f"{b.rps:,.0f} | {_ms(b.p50_ms)} | {_ms(b.p99_ms)} | {_ratio(r.rps, b.rps)} |"
                    if b
                    else "- | - | - | - |"
                )
            )
        return "\n".join(lines)

    def cpu_table(self) -> str:
        """CPU milliseconds per request by stack process, for the rows that measured it."""
        lines = [
            "| group | scenario | offered rps | CPU ms/request, all | by process (ms) |",
            "|---|---|---|---|---|",
        ]
        for row in self.rows:
            if row.cpu_ms:
                parts = ", ".join(f"{name} {ms:.2f}" for name, ms in row.cpu_ms.items())
                offered = f"{row.offered:,}" if row.offered else "closed loop"
                total = sum(row.cpu_ms.values())
                lines.append(
                    f"| {row.group} | {row.scenario} | {offered} | {total:.2f} | {parts} |"
                )
        return "\n".join(lines)

    def slowest(self, count: int = 3) -> str:
        """The ``count`` single-RPC scenarios with the lowest throughput next to their
        baseline."""
        pairs = [
            (row, base)
            for row, base in self._pairs(offered=False)
            if base and row.baseline == "no-op gRPC"
        ]
        pairs.sort(
            key=lambda pair: pair[0].result.rps / pair[1].result.rps if pair[1].result.rps else 0
        )
        lines = []
        for rank, (row, base) in enumerate(pairs[:count], start=1):
            busiest = ", ".join(f"{name} {ms:.1f}" for name, ms in list(row.cpu_ms.items())[:3])
            lines.append(
                f"{rank}. {row.group} {row.scenario}: {row.result.rps:,.0f} rps, p50 "
                f"{_ms(row.result.p50_ms)} ms ({_ratio(row.result.rps, base.result.rps)} of its "
                f"baseline). CPU ms per request, busiest processes: {busiest or '-'}. "
                f"{_profiled(row.scenario)}"
            )
        return "\n".join(lines)

    def plot(self) -> list[Path]:
        """Per group with offered-load rows: throughput, and p50/p99, against offered load."""
        import matplotlib as mpl  # noqa: PLC0415  (only when plotting)

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415

        paths = []
        for group in dict.fromkeys(row.group for row in self.rows if row.offered is not None):
            figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
            rows = [row for row in self.rows if row.group == group and row.offered is not None]
            offered_max = max(row.offered or 0 for row in rows)
            throughput.plot([0, offered_max], [0, offered_max], ":", color="grey", label="offered")
            for target in dict.fromkeys(row.target for row in rows):
                mine = sorted((r for r in rows if r.target == target), key=lambda r: r.offered or 0)
                label = mine[0].baseline if target == "baseline" else target
                x = [r.offered for r in mine]
                (line,) = throughput.plot(x, [r.result.rps for r in mine], "o-", label=label)
                color = line.get_color()
                latency.plot(
                    x, [r.result.p50_ms for r in mine], "o-", color=color, label=f"{label} p50"
                )
                latency.plot(
                    x, [r.result.p99_ms for r in mine], "s--", color=color, label=f"{label} p99"
                )
            throughput.set(xlabel="offered requests/s", ylabel="achieved requests/s", title=group)
            latency.set(xlabel="offered requests/s", ylabel="latency ms", yscale="log", title=group)
            for axes in (throughput, latency):
                axes.grid(visible=True, alpha=0.3)
                axes.legend(fontsize=7)
            figure.tight_layout()
            path = self.directory / f"{re.sub('[^a-z0-9]+', '-', group.lower()).strip('-')}.png"
            figure.savefig(path, dpi=100)
            plt.close(figure)
            paths.append(path)
        return paths

    def write(self, dataset: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        plots = self.plot()
        now = time.time()
        header = [
            f"# Chirp benchmark results{' (quick)' if self.options.quick else ''}",
            "",
            (
                f"- date: {datetime.fromtimestamp(self.started, UTC):%Y-%m-%d %H:%M} UTC, "
                f"duration {(now - self.started) / 60:.1f} min, commit {_commit()}"
            ),
            f"- machine: {_machine()} (shared with other work: compare ratios, not absolutes)",
            (
                f"- mode: {'quick' if self.options.quick else 'full'}; ghz concurrency "
                f"{self.options.concurrency}, {self.options.seconds}s per measurement"
            ),
            f"- dataset: {dataset}",
            "",
            (
                "Every figure is measured next to its baseline in the same run (alternating); "
                "the ratio is rps / baseline rps. See benchmarks/README.md for what each "
                "scenario does."
            ),
            "",
            "## Scenarios against their baselines",
            "",
            self.table(offered=False),
            "",
        ]
        if any(row.offered is not None for row in self.rows):
            header += ["## Offered load", "", self.table(offered=True), ""]
            header += [f"![{path.stem}]({path.name})" for path in plots] + [""]
        for title, body in self.sections:
            header += [f"## {title}", "", body, ""]
        if any(row.cpu_ms for row in self.rows):
            header += [
                "## CPU per request by process",
                "",
                (
                    "CPU time (user + system) each process of the stack spent during the "
                    "measurement, divided by the requests served: what one request costs each "
                    "tier (the capacity model's input). Other work on the machine does not add to "
                    "it, but contention inflates it a little."
                ),
                "",
                self.cpu_table(),
                "",
            ]
        if self.facts:
            header += ["## Measured figures", "", "| figure | value | what |", "|---|---|---|"]
            header += [
                f"| `{name}` | {value:,.2f} | {what} |"
                for name, (value, what) in self.facts.items()
            ]
            header.append("")
        if self.rows:
            header += [
                "## Slowest paths",
                "",
                (
                    "Lowest throughput next to their baseline in this run (what limits each: "
                    "benchmarks/README.md, Profiles)."
                ),
                "",
                self.slowest(),
                "",
            ]
        if self.notes:
            header += ["## Notes", "", *(f"- {note}" for note in self.notes), ""]
        path = self.directory / "RESULTS.md"
        path.write_text("\n".join(header))
        return path
