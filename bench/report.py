"""The one table `make bench` prints, and bench/RESULTS.md that keeps it."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"


@dataclass(slots=True)
class Row:
    """One line of the table: the suite's figure, the reference it is read against, the target."""

    scenario: str
    measure: str
    suite: str
    reference: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: str = "-"


def verdict(ok: bool | None) -> str:
    """met / not met / - (not measured)."""
    return "-" if ok is None else ("met" if ok else "NOT met")


def num(value: float, digits: int = 0) -> str:
    """A figure with thousands separators."""
    return f"{value:,.{digits}f}"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (readable as plain text too)."""
    head = Row("scenario", "measure", "suite", "stack limit / peer", "ratio", "target", "met")
    cells = [
        [r.scenario, r.measure, r.suite, r.reference, r.ratio, r.target, r.met]
        for r in [head, *rows]
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head.__slots__))]
    lines = []
    for n, c in enumerate(cells):
        lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> str:
    """CPU model, cores, memory, kernel, Python: what the figures were measured on."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    return (
        f"{model}, {os.cpu_count()} cores, {mem_kib / 1024 / 1024:.0f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def commit() -> str:
    """`git rev-parse --short HEAD`, marked dirty when the tree has changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"
    return f"{sha}{' (with uncommitted changes)' if dirty else ''}"


def block(profile: str, command: str, rows: list[Row], notes: list[str], seconds: float) -> str:
    """The generated section of RESULTS.md for one profile."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"### Profile `{profile}`: {when}",
        "",
        f"- machine: {machine()}",
        f"- commit: `{commit()}`",
        f"- command: `{command}` ({seconds / 60:.1f} min)",
        "",
        table(rows),
        "",
    ]
    if notes:
        parts += ["Notes of this run:", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(parts)


def update_results(profile: str, text: str, path: Path = RESULTS) -> None:
    """Replace this profile's generated block in RESULTS.md, keeping every hand-written part."""
    begin, end = f"<!-- bench:{profile}:begin -->", f"<!-- bench:{profile}:end -->"
    generated = f"{begin}\n{text}\n{end}"
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: generated, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + generated + "\n"
    path.write_text(updated)
