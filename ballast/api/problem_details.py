"""Every API error is an RFC 9457 problem details document (application/problem+json)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError, connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Every problem's `type` is this base and its slug; docs/api-problems.md documents each one.
PROBLEM_TYPE_BASE = "https://ballast.dev/problems/"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    410: "Gone",
    411: "Length required",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


@dataclass(frozen=True)
class ProblemType:
    """A kind of problem: the `code`s it answers for, the statuses it comes with, and when it happens."""

    slug: str
    statuses: tuple[int, ...]
    when: str
    codes: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug

    @property
    def all_codes(self) -> tuple[str, ...]:
        return self.codes or (self.slug.replace("-", "_"),)


_types: dict[str, ProblemType] = {}
_by_code: dict[str, ProblemType] = {}


def register_problem_types(*kinds: ProblemType) -> None:
    """Called from each app's problem_types.py (ballast.lib.declarations); a code names one type only."""
    for kind in kinds:
        for code in kind.all_codes:
            known = _by_code.get(code)
            if known is not None and known.slug != kind.slug:
                raise ValueError(f"Problem code {code!r} is already registered as {known.slug!r}")
            _by_code[code] = kind
        _types[kind.slug] = kind


def problem_types() -> list[ProblemType]:
    return sorted(_types.values(), key=lambda kind: (kind.statuses[0], kind.slug))


def problem_type_uri(code: str | None, status_code: int) -> str:
    """The registered type of `code`; about:blank (the status says it all) for a code no type claims."""
    kind = _by_code.get(code or "")
    return kind.uri if kind is not None and status_code in kind.statuses else "about:blank"


register_problem_types(
    ProblemType(
        "invalid",
        (400,),
        "A body field, query parameter or header does not fit: a missing or unknown field, a wrong type, a value "
        "out of range, an unknown query parameter, a NUL character. `errors` maps each offending name to its "
        "messages.",
    ),
    ProblemType("parse-error", (400,), "The body is not well-formed JSON (or not UTF-8)."),
    ProblemType("json-too-deep", (400,), "The JSON body nests arrays and objects deeper than API_MAX_JSON_DEPTH."),
    ProblemType(
        "invalid-cursor",
        (400,),
        "The `cursor` query parameter is not one this API handed out (in `next` or `previous` of a page).",
    ),
    ProblemType("not-authenticated", (401,), "The request carries no credential (`Authorization: Bearer <token>`)."),
    ProblemType("authentication-failed", (401,), "The credential was refused for another reason than the ones below."),
    ProblemType("malformed-token", (401,), "The Authorization header or the token is not of the expected shape."),
    ProblemType("invalid-token", (401,), "No token has this value."),
    ProblemType("token-revoked", (401,), "The token has been revoked."),
    ProblemType("user-inactive", (401,), "The token's user has been deactivated."),
    ProblemType(
        "permission-denied",
        (403,),
        "The token's role may not do this: viewers only read; some operations are for owners and admins.",
    ),
    ProblemType("no-tenant", (403,), "The credential belongs to no tenant."),
    ProblemType("tenant-suspended", (403,), "The token's tenant is suspended."),
    ProblemType(
        "not-found",
        (404,),
        "No route has this path (paths have no trailing slash), or the tenant has no such resource.",
    ),
    ProblemType("method-not-allowed", (405,), "The path does not answer this method; `Allow` lists those it does."),
    ProblemType("not-acceptable", (406,), "The `Accept` header admits no media type the API answers with (JSON)."),
    ProblemType(
        "unsupported-media-type",
        (415,),
        "The body is not `application/json` (or, for the relay, not the declared type).",
    ),
    ProblemType(
        "request-too-large",
        (413,),
        "The body is larger than API_MAX_BODY_BYTES (upload relays are bounded by the declared size instead).",
    ),
    ProblemType(
        "token-in-use", (409,), "A token may not revoke itself: revoke it with another owner's or admin's token."
    ),
    ProblemType(
        "idempotency-in-flight", (409,), "A request with the same Idempotency-Key is still running; retry later."
    ),
    ProblemType(
        "idempotency-key-reused",
        (422,),
        "The Idempotency-Key was used before for another method, path or body.",
    ),
    ProblemType(
        "throttled", (429,), "Over a rate limit (per token, per tenant or for queue processing); see `Retry-After`."
    ),
    ProblemType("server-error", (500,), "The server failed; the failure has been logged. Retrying may help."),
    ProblemType("database-unavailable", (503,), "The database cannot be reached for a moment; see `Retry-After`."),
)


def problem(status_code: int, detail: str, *, code: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type_uri(code, status_code),
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


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def request_too_large() -> RequestTooLarge:
    return RequestTooLarge(f"The body is larger than this API accepts ({settings.API_MAX_BODY_BYTES} bytes).")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):
        exc = request_too_large()
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
        return no_route(request)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())  # type: ignore[return-value]


@csrf_exempt
def no_route(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any method on a path under /api/ that no route matches (a trailing slash included)."""
    return json_problem_response(
        status.HTTP_404_NOT_FOUND, f"No route for {request.path} (paths have no trailing slash).", code="not_found"
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400 (a body Django itself refused): problem details for the API, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        if isinstance(exception, RequestDataTooBig):
            error = request_too_large()
            return json_problem_response(error.status_code, str(error.detail), code=error.default_code)
        return json_problem_response(400, "The request could not be read.", code="invalid")
    from django.views.defaults import bad_request as django_bad_request

    return django_bad_request(request, exception or Exception())


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
        return json_problem_response(
            500, "The server failed to handle this request; it has been logged.", code="server_error"
        )
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)
