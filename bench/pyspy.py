"""Sampling a running process with py-spy and reading where its time goes."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter, or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(pid: int, seconds: float, out: Path, rate: int = 200) -> Path | None:
    """Sample `pid` for `seconds` into a collapsed-stack file; None when py-spy cannot."""
    exe = py_spy()
    if exe is None:
        return None
    proc = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.wait_for(proc.wait(), seconds + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out if proc.returncode == 0 else None


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    file = m["file"]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m['func']} ({file})"


def _module(frame: str) -> str:
    """The package a frame belongs to: websockets, aio_pika, sqlalchemy, ws_gateway, ..."""
    name = _name(frame)
    file = name[name.rfind("(") + 1 : -1]
    head = file.split("/", 1)[0]
    return head.removesuffix(".py") or "?"


@dataclass(frozen=True, slots=True)
class Profile:
    """Samples of one process: by leaf function (self), by function on the stack, by package."""

    samples: int
    self_time: Counter[str]
    total_time: Counter[str]
    packages: Counter[str]

    @classmethod
    def read(cls, path: Path) -> Profile:
        """Parse py-spy's raw (collapsed) output."""
        self_time: Counter[str] = Counter()
        total_time: Counter[str] = Counter()
        packages: Counter[str] = Counter()
        samples = 0
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = stack.split(";")
            samples += count
            self_time[_name(frames[-1])] += count
            packages[_module(frames[-1])] += count
            for name in {_name(f) for f in frames}:
                total_time[name] += count
        return cls(samples, self_time, total_time, packages)

    def top(self, n: int = 12) -> str:
        """The busiest leaf functions and packages as text."""
        if not self.samples:
            return "(no samples)"
        lines = [f"{self.samples} samples; self time by package:"]
        lines += [
            f"  {count / self.samples:6.1%}  {name}" for name, count in self.packages.most_common(n)
        ]
        lines.append("self time by function:")
        lines += [
            f"  {count / self.samples:6.1%}  {name}"
            for name, count in self.self_time.most_common(n)
        ]
        return "\n".join(lines)

    def inclusive(self, needles: list[str]) -> str:
        """Share of samples whose stack holds each function matching a needle."""
        lines = []
        for needle in needles:
            count = max((c for name, c in self.total_time.items() if needle in name), default=0)
            lines.append(f"  {count / max(self.samples, 1):6.1%}  {needle}")
        return "\n".join(lines)


if __name__ == "__main__":
    # python -m bench.pyspy PROFILE.txt ... [--find NEEDLE ...]: summaries, or inclusive shares
    files, _, needles = " ".join(sys.argv[1:]).partition(" --find ")
    for arg in files.split():
        profile = Profile.read(Path(arg))
        print(f"== {arg}")
        print(profile.inclusive(needles.split()) if needles else profile.top(20))
