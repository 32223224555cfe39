"""Log lines that say where they come from: the correlation and trace ids, the tenant, the job and its attempt.

`ContextFilter` (on the handler) copies onto every record the fields of the current request or job: the trace
context (ballast.lib.tracing), the fields bound with `bound(...)` (the worker binds the job around each attempt),
and those of registered sources (`add_source`: the tenants app gives the tenant of the current tenant_scope). A
field without a value is left out. `JsonFormatter` writes a JSON object a line; `TextFormatter` a readable line
with the fields at its end. LOG_FORMAT chooses (config/settings/base.py).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from ballast.lib import tracing

# In this order on a text line.
CONTEXT_FIELDS = ("correlation_id", "trace_id", "tenant_id", "job_id", "job_type", "attempt")

_bound: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("ballast_log_fields", default={})  # noqa: B039 (never mutated)
_sources: dict[str, Callable[[], Any]] = {}


def add_source(field: str, getter: Callable[[], Any]) -> None:
    """`getter()` gives `field` for records that have it bound nowhere else (None: left out)."""
    _sources[field] = getter


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Every record logged inside carries these fields."""
    token = _bound.set({**_bound.get(), **fields})
    try:
        yield
    finally:
        _bound.reset(token)


def context_fields() -> dict[str, Any]:
    context = tracing.current()
    fields: dict[str, Any] = {"correlation_id": context.correlation_id, "trace_id": context.trace_id}
    for field, getter in _sources.items():
        fields[field] = getter()
    fields.update(_bound.get())
    return {key: value for key, value in fields.items() if value not in (None, "")}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context_fields().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: timestamp (UTC, ISO 8601), level, logger, message, then every other field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "{levelname}{name}{message}")
        kwargs.setdefault("style", "{")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        super().__init__(*args, **kwargs)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message [field=value ...]`, for a terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if hasattr(record, key))
        if not fields:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{fields}]{newline}{rest}"


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """A dictConfig for LOGGING: every record to stderr, in `log_format` ('json' or 'text')."""
    if log_format not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT is {log_format!r}: use json or text")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "ballast.lib.logging.ContextFilter"},
            # Tokens in URLs (download links, presigned signatures) are redacted from every record.
            "redact": {"()": "ballast.lib.log_redaction.RedactFilter"},
        },
        "formatters": {
            "json": {"()": "ballast.lib.logging.JsonFormatter"},
            "text": {"()": "ballast.lib.logging.TextFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context", "redact"]},
        },
        "root": {"handlers": ["console"], "level": level},
        # runserver's request lines, through the same filters.
        "loggers": {"django.server": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }
