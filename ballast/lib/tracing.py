"""Correlation, causation and W3C trace context of the current request or job (contextvars).

An API request sets them (api.correlation); a running job carries its own. Whatever is enqueued or emitted
meanwhile inherits them, with the job's creation event as the causation. While an OpenTelemetry span is current
(ballast.lib.telemetry), the traceparent is that span's: what is stored then continues the exported trace.
"""

from __future__ import annotations

import contextvars
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from ballast.lib import telemetry

_TRACEPARENT = re.compile(r"^00-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})$")
_CORRELATION = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


@dataclass(frozen=True)
class TraceContext:
    correlation_id: str = ""
    causation_id: str = ""
    traceparent: str = ""

    @property
    def trace_id(self) -> str:
        match = _TRACEPARENT.match(self.traceparent)
        return match.group("trace") if match else ""


_current: contextvars.ContextVar[TraceContext] = contextvars.ContextVar("ballast_trace", default=TraceContext())  # noqa: B039 (frozen)


def current() -> TraceContext:
    context = _current.get()
    live = telemetry.current_traceparent()
    return replace(context, traceparent=live) if live and live != context.traceparent else context


@contextmanager
def trace_context(context: TraceContext) -> Iterator[TraceContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def valid_traceparent(value: str | None) -> str:
    """The header if it is a well-formed version-00 traceparent with non-zero ids, else ''."""
    if not value:
        return ""
    value = value.strip().lower()
    match = _TRACEPARENT.match(value)
    if not match or set(match.group("trace")) == {"0"} or set(match.group("parent")) == {"0"}:
        return ""
    return value


def new_traceparent(trace_id: str | None = None) -> str:
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def valid_correlation_id(value: str | None) -> str:
    return value if value and _CORRELATION.match(value) else ""
