"""Every API error is an RFC 9457 problem details document (application/problem+json)."""

from __future__ import annotations

import sys
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(status_code: int, detail: str, *, code: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if code:
        body["code"] = code
    body.update(extra)
    return body


def _flatten(detail: Any) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    # The view ran inside tenant_scope's transaction: a handled error must not commit half a write.
    if connection.in_atomic_block:
        transaction.set_rollback(True)
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = problem(
            response.status_code,
            "The request is invalid: " + _flatten(errors),
            code="invalid",
            errors=errors,
        )
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        body = problem(response.status_code, _flatten(exc.detail), code=codes if isinstance(codes, str) else None)
    else:  # pragma: no cover - DRF only returns responses for APIException and Http404
        body = problem(response.status_code, str(exc))
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def json_problem_response(status_code: int, detail: str, **extra: Any) -> JsonResponse:
    return JsonResponse(problem(status_code, detail, **extra), status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler404: JSON for the API, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_problem_response(status.HTTP_404_NOT_FOUND, f"No route for {request.path}.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())  # type: ignore[return-value]


# Seconds a client is told to wait when the database is unreachable (a restart or failover takes about that).
DATABASE_RETRY_AFTER = 5


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the database could not be reached (restarting, failing over). Never a 500."""
    detail = "The database is unavailable for a moment; retry later."
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = json_problem_response(503, detail, code="database_unavailable")
    else:
        response = HttpResponse(detail, status=503, content_type="text/plain")
    response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that cannot be reached is a 503 (database_unavailable); anything else, 500."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return database_unavailable(request)
    if request.path.startswith("/api/"):
        return json_problem_response(500, "The server failed to handle this request; it has been logged.")
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)
