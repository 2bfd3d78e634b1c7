"""What the fault runs' command lines share: the fleet's options, the lines of context above a
table, and `--write`, which puts the table between its markers in docs/RELIABILITY.md."""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .driver import Pace
from .harness import RunOptions

OptionsT = TypeVar("OptionsT", bound=RunOptions)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "RELIABILITY.md"


def parser(prog: str, description: str | None, cps: int) -> argparse.ArgumentParser:
    """A parser with the options every run has: fleet size and pace, commands, `--write`."""
    result = argparse.ArgumentParser(prog=prog, description=description)
    result.add_argument("--cps", type=int, default=cps, help="charge points in the fleet")
    result.add_argument("--interval", type=float, default=5.0, help="s between a CP's messages")
    result.add_argument("--command-rate", type=float, default=5.0, help="REST commands a second")
    result.add_argument(
        "--write", action="store_true", help=f"write the table into {DOC.name} (latest run)"
    )
    return result


def options(kind: type[OptionsT], args: argparse.Namespace, **own: Any) -> OptionsT:
    """`kind` of run options from the parsed arguments: the fleet's from `parser`'s options,
    the rest (`own`) as the run's command line gives them."""
    return kind(
        cps=args.cps, pace=Pace(interval=args.interval), command_rate=args.command_rate, **own
    )


def names(value: str, known: Iterable[str], what: str) -> list[str]:
    """A comma-separated list of `what` (faults, modes), each one of `known`; an unknown one
    is said on stderr and ends the program with status 2."""
    given, choices = value.split(","), list(known)
    unknown = [name for name in given if name not in choices]
    if unknown:
        print(f"unknown {what} {unknown}; there are {choices}", file=sys.stderr)
        raise SystemExit(2)
    return given


def commit() -> str:
    """The checkout's commit, short."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()


def dated(started: datetime) -> str:
    """The first line of context above a table: when, which commit, on what machine."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"- date: {started:%Y-%m-%d %H:%M} UTC; commit `{commit()}`; machine: {cpu},"
        f" Python {platform.python_version()}"
    )


def show(text: str, marker: str, write: bool) -> None:
    """Print the table; with `write`, put it between `<!-- marker:begin -->` and
    `<!-- marker:end -->` in docs/RELIABILITY.md in place of what was there."""
    print()
    print(text)
    if write:
        begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
        block = f"{begin}\n{text}\n{end}"
        doc = re.sub(
            re.escape(begin) + ".*?" + re.escape(end), lambda _: block, DOC.read_text(), flags=re.S
        )
        DOC.write_text(doc)
        print(f"\nwritten into {DOC}")
