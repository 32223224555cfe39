"""OpenTelemetry traces: configured by the standard OTEL_* variables, off unless they ask for an exporter.

`configure()` runs once per process (TenantsConfig.ready). It installs a tracer provider only when
OTEL_TRACES_EXPORTER names an exporter (`console`, `otlp`, or one registered under the SDK's
`opentelemetry_traces_exporter` entry points) or OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set; otherwise the API's
no-op tracer stays and nothing is exported. OTEL_SDK_DISABLED=true turns it off whatever else is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACER_NAME = "ballast"
_propagator = TraceContextTextMapPropagator()
_configured = False


def exporter_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The span exporters the environment asks for (none: tracing stays off)."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [name.strip() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if names:
        return [name for name in names if name != "none"]
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return ["otlp"]
    return []


def configure() -> bool:
    """Install the tracer provider and instrument Django when the environment asks for it. Safe to call twice."""
    global _configured
    names = exporter_names()
    if _configured or not names:
        return _configured
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by the SDK; the service is "ballast" without them.
    named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": "ballast"}))
    for name in names:
        exporter = _exporter(name)
        # The console's lines appear as each span ends; a network exporter sends batches.
        processor = SimpleSpanProcessor(exporter) if name == "console" else BatchSpanProcessor(exporter)
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    _configured = True
    return True


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from importlib.metadata import entry_points

    for entry in entry_points(group="opentelemetry_traces_exporter", name=name):
        return entry.load()()
    raise ValueError(f"OTEL_TRACES_EXPORTER names {name!r}: use console, otlp, none or an installed exporter")


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def current_traceparent() -> str:
    """The W3C traceparent of the span now current, or '' when there is none (tracing off)."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return ""
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"


def current_trace_id() -> str:
    span_context = trace.get_current_span().get_span_context()
    return f"{span_context.trace_id:032x}" if span_context.is_valid else ""


def context_of(traceparent: str) -> otel_context.Context:
    """A parent context for spans that continue the trace a stored traceparent names."""
    return _propagator.extract({"traceparent": traceparent}) if traceparent else otel_context.Context()


@contextmanager
def continued(traceparent: str) -> Iterator[None]:
    """The spans started inside continue the trace a stored traceparent names (nothing changes without one)."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(context_of(traceparent))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def span(name: str, *, kind: trace.SpanKind = trace.SpanKind.INTERNAL, **attributes: Any) -> Iterator[trace.Span]:
    """A span under the current one; None-valued attributes are left out."""
    with tracer().start_as_current_span(
        name, kind=kind, attributes={key: value for key, value in attributes.items() if value is not None}
    ) as current:
        yield current
