"""Traces: OpenTelemetry, exported over OTLP when the standard `OTEL_*` variables ask for it.

Off by default: nothing is set up unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and `OTEL_SDK_DISABLED` is not `true`. The exporter
reads the other `OTEL_*` variables itself (headers, timeout, `OTEL_BSP_*` batching). A trace
crosses the broker in the W3C `traceparent` (and `tracestate`) AMQP headers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from sqlalchemy.ext.asyncio import AsyncEngine

tracer = trace.get_tracer("csms")


def enabled() -> bool:
    """Whether the environment asks for traces."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


# Set once a tracer provider is installed: the hot paths skip every span and header otherwise.
_active = False


def active() -> bool:
    """Whether this process records spans (configure_tracing installed a provider)."""
    return _active


def configure_tracing(component: str) -> bool:
    """Install an OTLP-exporting tracer provider named `component` (`OTEL_SERVICE_NAME` wins)
    when enabled(); True if it did."""
    global _active
    if not enabled():
        return False
    # Imported here: a process without traces never loads the SDK and the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or component
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _active = True
    return True


def instrument_engine(engine: AsyncEngine) -> None:
    """Spans for the engine's statements, when traces are on."""
    if enabled():
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # It declares SQLAlchemy < 2.1 and would otherwise skip itself; its engine events are
        # those 2.1 still has (tests/integration/test_tracing.py sees its spans).
        SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, skip_dep_check=True)


def inject(headers: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Add the current span's `traceparent` (if any) to AMQP `headers`; returns them."""
    propagate.inject(headers)
    return headers


def traceparent() -> str | None:
    """The current span's W3C `traceparent`, or None (no span, or traces off)."""
    if not _active:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def extract(headers: Mapping[str, Any] | None) -> Context:
    """The trace context an AMQP message's headers carry (an empty one if none)."""
    carrier = {
        k: v.decode("latin-1") if isinstance(v, bytes) else str(v)
        for k, v in (headers or {}).items()
        if k in ("traceparent", "tracestate")
    }
    return propagate.extract(carrier)


def trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, or None outside a recorded trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
