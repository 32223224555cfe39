"""The correlation middleware: every request runs in a trace context (ballast.lib.tracing).

A request takes its correlation id from X-Correlation-ID or starts one, and its trace from a valid
`traceparent` header (an invalid one is ignored, never trusted); the response echoes X-Correlation-ID.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ballast.lib.tracing import TraceContext, new_traceparent, trace_context, valid_correlation_id, valid_traceparent

CORRELATION_HEADER = "X-Correlation-ID"


class CorrelationMiddleware:
    """Sets the trace context for the request and echoes X-Correlation-ID on the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        correlation_id = valid_correlation_id(request.headers.get(CORRELATION_HEADER)) or uuid.uuid4().hex
        traceparent = valid_traceparent(request.headers.get("traceparent")) or new_traceparent()
        with trace_context(TraceContext(correlation_id=correlation_id, traceparent=traceparent)):
            response = self.get_response(request)
        response[CORRELATION_HEADER] = correlation_id
        return response
