"""The consumer runtime's Prometheus metrics (every service exports the same names)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HANDLED = Counter(
    "csms_messages_handled_total", "Calls, events and RPCs handled, by outcome", ["kind", "outcome"]
)
REFUSED = Counter(
    "csms_deliveries_refused_total",
    "Calls or events that did not come through their exchange from an expected sender",
)
LATENCY = Histogram(
    "csms_handler_seconds",
    "Time from delivery to ack",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
GROUP_SIZE = Histogram(
    "csms_group_calls",
    "Calls or events of one action or pattern handled from one transaction (a group of 1 is"
    " not counted)",
    ["action"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)
