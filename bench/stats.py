"""Counting what a load run did: latencies per action, errors, timeouts, rates."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank percentile `q` (0-100) of an ascending list; NaN when empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Summary:
    """Latency figures of one action, in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> Summary:
        """Summarise raw latencies given in seconds."""
        ordered = sorted(seconds)
        ms = [percentile(ordered, q) * 1000 for q in (50, 95, 99, 100)]
        return cls(len(ordered), *ms)

    def short(self) -> str:
        """`p50/p99 ms` for a table cell."""
        return f"{self.p50:.1f}/{self.p99:.1f}"


@dataclass(slots=True)
class Stats:
    """What a set of simulated charge points saw: per-action latencies and failures."""

    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    # (action, code, seconds) of each CALLERROR: refused at once, or after a long wait
    error_times: list[tuple[str, str, float]] = field(default_factory=list)
    disconnects: int = 0
    commands_answered: int = 0

    def ok(self, action: str, seconds: float) -> None:
        """A CALLRESULT after `seconds`."""
        self.latencies[action].append(seconds)

    def error(self, action: str, code: str, seconds: float | None = None) -> None:
        """A CALLERROR (or a refused connection) for `action`, after `seconds` if known."""
        self.errors[f"{action}:{code}"] += 1
        if seconds is not None:
            self.error_times.append((action, code, seconds))

    def timeout(self, action: str) -> None:
        """No answer in time."""
        self.timeouts[action] += 1

    def answered(self, action: str | None = None) -> int:
        """CALLRESULTs received, for one action or all."""
        if action is not None:
            return len(self.latencies.get(action, ()))
        return sum(len(v) for v in self.latencies.values())

    def failures(self) -> int:
        """Errors plus timeouts."""
        return sum(self.errors.values()) + sum(self.timeouts.values())

    def summary(self, action: str) -> Summary:
        """Latency figures of one action."""
        return Summary.of(self.latencies.get(action, []))

    def merged(self) -> Summary:
        """Latency figures over every action."""
        return Summary.of([x for v in self.latencies.values() for x in v])

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.latencies.clear()
        self.errors.clear()
        self.timeouts.clear()
        self.error_times.clear()
        self.disconnects = 0
        self.commands_answered = 0

    def report(self, seconds: float) -> str:
        """A per-action table: count, rate, p50/p95/p99/max, errors, timeouts."""
        lines = [
            f"{'action':<22}{'count':>9}{'/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>9}"
            f"{'err':>6}{'t/o':>6}"
        ]
        actions = sorted(
            set(self.latencies) | {k.split(":")[0] for k in self.errors} | set(self.timeouts)
        )
        for action in actions:
            s = self.summary(action)
            errors = sum(n for k, n in self.errors.items() if k.split(":")[0] == action)
            lines.append(
                f"{action:<22}{s.count:>9}{s.count / max(seconds, 1e-9):>9.0f}{s.p50:>8.1f}"
                f"{s.p95:>8.1f}{s.p99:>8.1f}{s.max:>9.1f}{errors:>6}{self.timeouts[action]:>6}"
            )
        if self.errors:
            lines.append("errors: " + ", ".join(f"{k} x{n}" for k, n in self.errors.most_common(8)))
        return "\n".join(lines)
