"""Reading processes from /proc: CPU time, resident memory; raising the file limit."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def raise_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else 1_048_576
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_files(pid: int) -> int:
    """How many file descriptors a process holds."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def pids_named(name: str) -> list[int]:
    """Pids whose command name is `name` (read-only: for CPU accounting of the broker)."""
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


@dataclass(frozen=True, slots=True)
class CpuMark:
    """CPU seconds of each pid of named groups at one moment, and the wall clock then."""

    wall: float
    cpu: dict[str, dict[int, float]]

    @classmethod
    def take(cls, groups: dict[str, list[int]]) -> CpuMark:
        """Read the CPU seconds of every pid now."""
        return cls(
            time.monotonic(),
            {name: {p: cpu_seconds(p) for p in pids} for name, pids in groups.items()},
        )

    def since(self, earlier: CpuMark) -> dict[str, float]:
        """CPU seconds each group used since `earlier`; a pid born meanwhile counts in full."""
        return {
            name: sum(v - earlier.cpu.get(name, {}).get(p, 0.0) for p, v in pids.items())
            for name, pids in self.cpu.items()
        }


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / TICKS, total / TICKS


def listen_drops() -> int:
    """TcpExt ListenOverflows + ListenDrops: SYNs dropped because an accept queue was full."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", 0)) + int(table.get("ListenDrops", 0))
    return 0


class CpuWatch:
    """CPU used by groups of processes over a span, and by everything else on the machine."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._mark = CpuMark.take(groups)
        self._machine = machine_busy()
        self.used: dict[str, float] = {}
        self.wall = 0.0
        self.other = 0.0  # share of the machine's cores used by processes outside the groups

    def stop(self, groups: dict[str, list[int]] | None = None) -> CpuWatch:
        """End the span; `groups` may name pids that started during it (new DB backends)."""
        mark = CpuMark.take(groups or self.groups)
        busy, _ = machine_busy()
        self.used = mark.since(self._mark)
        self.wall = mark.wall - self._mark.wall
        cores = os.cpu_count() or 1
        foreign = (busy - self._machine[0]) - sum(self.used.values())
        self.other = max(0.0, foreign) / max(self.wall * cores, 1e-9)
        return self

    def per_message(self, messages: int) -> dict[str, float]:
        """Microseconds of CPU per message, by group."""
        return {k: v / max(messages, 1) * 1e6 for k, v in self.used.items()}

    def describe(self, messages: int) -> str:
        """`group 12 us, ...` for a log line, with the foreign load."""
        parts = [f"{k} {v:.0f}" for k, v in self.per_message(messages).items() if v >= 0.5]
        return f"CPU us/msg: {', '.join(parts)}; other load {self.other:.0%} of the machine"
