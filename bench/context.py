"""What every scenario shares: the profile, the log, the rows, helper processes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .pyspy import Profile as SpyProfile
from .pyspy import record
from .report import Row

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class BenchProfile:
    """How big and how long: `quick` (default, under ~10 min) or `full`."""

    name: str
    throughput_cps: int  # charge points the rate steps are spread over
    step_seconds: float  # one ramp step
    hold_seconds: float  # the steps at the peak and at half of it
    doublings: int
    bisections: int
    reqreply_workers: int  # CPs (and aio-pika requesters) in the closed request/reply loop
    reqreply_seconds: float
    connections: int  # idle CPs on one gateway
    storm_cps: int  # of those, how many the stopped gateway holds in the reconnect storm
    command_seconds: float
    command_workers: int
    max_commands: int
    storm_charging: int  # CPs of the storm fleet that charge through it
    drain_timeout: float  # longest wait for a service queue to empty after a step
    overload_cps: int  # CPs of the overload mix (each has one CALL out at a time)
    allocation_sites: int  # sites of the allocation bench
    allocation_per_site: int  # stations on each (half 1.6, half 2.0.1)
    allocation_starts: int  # sessions started one at a time on each site
    binding_stations: int  # stations bound one by one by the bindings scenario


PROFILES = {
    "quick": BenchProfile(
        name="quick",
        throughput_cps=1000,
        step_seconds=3.0,
        hold_seconds=5.0,
        doublings=7,
        bisections=3,
        reqreply_workers=64,
        reqreply_seconds=8.0,
        connections=1000,
        storm_cps=1000,
        command_seconds=10.0,
        command_workers=4,
        max_commands=2000,
        storm_charging=200,
        drain_timeout=40.0,
        overload_cps=4000,
        allocation_sites=10,
        allocation_per_site=50,
        allocation_starts=2,
        binding_stations=10_000,
    ),
    "full": BenchProfile(
        name="full",
        throughput_cps=2000,
        step_seconds=6.0,
        hold_seconds=10.0,
        doublings=8,
        bisections=4,
        reqreply_workers=64,
        reqreply_seconds=20.0,
        connections=19000,
        storm_cps=5000,
        command_seconds=30.0,
        command_workers=4,
        max_commands=10000,
        storm_charging=300,
        drain_timeout=90.0,
        overload_cps=8000,
        allocation_sites=20,
        allocation_per_site=50,
        allocation_starts=2,
        binding_stations=100_000,
    ),
}


@dataclass(slots=True)
class Bench:
    """One `make bench` run: its settings, its log, its table and what later steps reuse."""

    profile: BenchProfile
    out: Path
    py_spy: bool = False
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    cpu_lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log(self, message: str) -> None:
        """A progress line on stdout, with the run's elapsed time."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def add(self, row: Row) -> None:
        """A row of the final table."""
        self.rows.append(row)
        self.log(f"  => {row.scenario}: {row.measure}: {row.suite}  ({row.reference}) {row.met}")

    def _start(self, name: str, module: str, args: tuple[str, ...]) -> subprocess.Popen[bytes]:
        log = (self.out / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        log.close()
        self._children.append(proc)
        return proc

    async def spawn(self, name: str, module: str, *args: str, port: int | None = None) -> int:
        """Start a helper process (`python -m module args`), wait for its port; its pid."""
        proc = self._start(name, module, args)
        if port is not None:
            for _ in range(100):
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited {proc.returncode}; see {self.out}")
                try:
                    with socket.create_connection(("127.0.0.1", port), 0.5):
                        break
                except OSError:
                    await asyncio.sleep(0.1)
        return proc.pid

    def stop_child(self, pid: int) -> None:
        """Stop one helper process this run started."""
        for proc in self._children:
            if proc.pid == pid and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)

    def stop_children(self) -> None:
        """Stop the helper processes this run started (by pid, nothing else)."""
        for proc in self._children:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self._children.clear()

    async def spy(self, label: str, pids: dict[str, int], seconds: float) -> None:
        """With --py-spy: sample each pid for `seconds`, keep raw stacks and a summary."""
        if not self.py_spy:
            return
        folder = self.out / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        paths = await asyncio.gather(
            *(record(pid, seconds, folder / f"{label}-{name}.txt") for name, pid in pids.items())
        )
        for name, path in zip(pids, paths, strict=True):
            if path is None:
                self.log(f"  py-spy could not sample {name}")
                continue
            summary = SpyProfile.read(path).top(15)
            (folder / f"{label}-{name}.summary").write_text(summary + "\n")
            self.log(f"  py-spy {label} {name}:\n" + summary)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def own_pid() -> list[int]:
    """This process, as a CPU group."""
    return [os.getpid()]
