"""The gateway's counts of what CPs send: frames in by kind, CALLs answered by action and
outcome with their latency, CALLs refused by the rate limit, because their service is behind, or
because no live owner can take them."""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Histogram

from csms_shared.bus.rpc import RpcError, RpcUnavailable
from csms_shared.ocpp.catalog import CATALOGS, Catalog
from csms_shared.ocpp.version import OcppVersion

from .call_refusals import Overloaded, Ownerless

log = logging.getLogger(__name__)

FRAMES_IN = Counter("csms_gateway_frames_in_total", "Frames received from CPs", ["kind"])
CALLS_OUT = Counter("csms_gateway_calls_total", "CP CALLs answered", ["action", "outcome"])
CALL_LATENCY = Histogram(
    "csms_gateway_call_seconds",
    "Time from a CP's CALL to its answer",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
THROTTLED = Counter("csms_gateway_throttled_total", "CALLs refused by the per-CP rate limit")
STRIKES = Counter(
    "csms_gateway_strikes_total",
    "Frames a CP should not have sent, toward its disconnection: over its rate (rate_limit,"
    " malformed), or answers to no call (unsolicited)",
    ["reason"],
)
UNSOLICITED = Counter(
    "csms_gateway_unsolicited_answers_total",
    "CALLRESULTs and CALLERRORs from CPs that answer no call of the gateway's: dropped",
)
LATE_ANSWERS = Counter(
    "csms_gateway_late_answers_total",
    "CPs' answers to a command that had timed out already: logged, not reported",
)
REFUSED_BEHIND = Counter(
    "csms_gateway_calls_refused_overload_total",
    "Decision calls refused at once: their service was too far behind to answer in time",
    ["action"],
)
REFUSED_OWNERLESS = Counter(
    "csms_gateway_calls_refused_ownerless_total",
    "Decision calls answered InternalError at once, on arrival or while waiting: no live"
    " process of their service consumes them (gone), or its database is down (not_ready)",
    ["action", "reason"],
)
ANSWERED_APART = Counter(
    "csms_gateway_ends_answered_apart_total",
    "Transactions' ends taken (the broker holds them) and answered before their service stored"
    " them: it was behind (GATEWAY_END_ANSWER_AFTER)",
    ["action"],
)
JUDGED_WITHOUT = Counter(
    "csms_gateway_ends_unjudged_total",
    "Transactions' ends taken (the broker holds them) and answered apart whose token the"
    " session-service could not judge (stop_id_tag_info, ended_id_token_info): a 1.6 stop"
    " answered without idTagInfo, a 2.0.1 Ended a retriable CALLERROR",
    ["reason"],
)
# One warning per action per this many seconds while its calls are refused (each is counted).
REFUSAL_LOG_EVERY = 10.0
_refusals_logged: dict[str, tuple[float, int]] = {}

# Label children looked up once, not per frame (labels() takes a lock and builds a tuple).
FRAME_CALL = FRAMES_IN.labels("call")
FRAME_RESULT = FRAMES_IN.labels("result")
FRAME_ERROR = FRAMES_IN.labels("error")
FRAME_MALFORMED = FRAMES_IN.labels("malformed")
_LATENCY = {kind: CALL_LATENCY.labels(kind) for kind in ("notification", "request")}
_CALL_METRICS: dict[tuple[OcppVersion, str, str, str], tuple[Counter, Histogram]] = {}
_KNOWN_ACTIONS = frozenset(name for found in CATALOGS.values() for name in found.actions)


def call_metrics(
    version: Catalog, action: str, outcome: str, notification: bool
) -> tuple[Counter, Histogram]:
    """The answered-CALL counter and latency histogram children of (action, outcome), the
    latency's by the call's kind (`Catalog.is_notification`).

    Actions of no OCPP version count as "unknown": a CP must not be able to mint label values.
    """
    kind = "notification" if notification else "request"
    key = (version.version, action, outcome, kind)
    found = _CALL_METRICS.get(key)
    if found is None:
        known = action in _KNOWN_ACTIONS
        found = (CALLS_OUT.labels(action if known else "unknown", outcome), _LATENCY[kind])
        if known:  # bounded: the versions times the actions times the error codes
            _CALL_METRICS[key] = found
    return found


def refused_behind(exc: Overloaded) -> None:
    """Count a refused decision call; warn once per action every REFUSAL_LOG_EVERY seconds
    with how many were refused since the last warning."""
    REFUSED_BEHIND.labels(exc.action).inc()
    now = time.monotonic()
    last, count = _refusals_logged.get(exc.action, (0.0, 0))
    if now - last < REFUSAL_LOG_EVERY:
        _refusals_logged[exc.action] = (last, count + 1)
        return
    _refusals_logged[exc.action] = (now, 0)
    log.warning(
        "overload: %s calls refused (retry after %d s); the oldest unanswered one has waited"
        " %.1f s; %d more refused since the last warning",
        exc.action,
        exc.retry_after,
        exc.behind,
        count,
    )


def refused_ownerless(exc: Ownerless) -> None:
    """Count a decision call nobody could take (the bus logs the waiting ones it failed)."""
    REFUSED_OWNERLESS.labels(exc.action, exc.verdict.value).inc()


def judged_without(exc: RpcError) -> None:  # RpcUnavailable for a broker or time fault
    """Count an end answered apart whose token could not be judged; warn once every
    REFUSAL_LOG_EVERY seconds with how many since the last warning."""
    JUDGED_WITHOUT.labels("unavailable" if isinstance(exc, RpcUnavailable) else exc.code).inc()
    now = time.monotonic()
    last, count = _refusals_logged.get(_JUDGED, (0.0, 0))
    if now - last < REFUSAL_LOG_EVERY:
        _refusals_logged[_JUDGED] = (last, count + 1)
        return
    _refusals_logged[_JUDGED] = (now, 0)
    log.warning(
        "a transaction's end taken, but its token could not be judged (%s); %d more since the"
        " last warning",
        exc,
        count,
    )


_JUDGED = " stop_id_tag_info"  # no action's name
