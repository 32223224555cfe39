"""The OpenAPI description of every operation (drf-spectacular's AutoSchema, made exact): its own description
(never a base class's docstring), a tag per resource, the query parameters its view declares, the
Idempotency-Key of mutating tenant requests, and every problem (4xx) it can answer, as application/problem+json.
"""

from __future__ import annotations

import inspect
from http import HTTPStatus
from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter

from ballast.api.idempotency import MAX_CLIENT_KEY_LENGTH
from ballast.api.problem_details import PROBLEM_CONTENT_TYPE
from ballast.api.serializers import ProblemSerializer, StrictSerializer

# The tag of each resource (SPECTACULAR_SETTINGS["TAGS"] describes them), by its path's first segment.
TAGS = {
    "jobs": "jobs",
    "dead-letters": "dead letters",
    "queue": "queue",
    "schedules": "schedules",
    "batches": "batches",
    "webhooks": "webhooks",
    "uploads": "uploads",
    "documents": "documents",
    "trash": "documents",
    "me": "account",
    "tokens": "account",
    "events": "events",
    "emails": "emails",
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _description(status: int, *, listing: bool, tenant: bool) -> str:
    known = {
        400: "The request does not fit: `invalid` (with `errors` by field or parameter, unknown query parameters "
        "included)" + (", `invalid-cursor`" if listing else "") + ", `parse-error` or `json-too-deep` (the body).",
        401: "No credential (`not-authenticated`), or one refused: `malformed-token`, `invalid-token`, "
        "`token-revoked`, `user-inactive`.",
        403: "The token's role may not do this (`permission-denied`)"
        + (", it has no tenant (`no-tenant`) or the tenant is suspended (`tenant-suspended`)." if tenant else "."),
        404: "The tenant has no such resource (`not-found`).",
        406: "The Accept header admits no JSON (`not-acceptable`).",
        409: "A request with the same Idempotency-Key is still running (`idempotency-in-flight`).",
        413: "The body is larger than API_MAX_BODY_BYTES (`request-too-large`).",
        415: "The body is not application/json (`unsupported-media-type`).",
        422: "The Idempotency-Key was used before for another request (`idempotency-key-reused`).",
        429: "Over a rate limit (`throttled`); see Retry-After.",
    }
    return known.get(status, "Problem details (docs/api-problems.md).")


class AutoSchema(SpectacularAutoSchema):
    def get_description(self) -> str:  # type: ignore[override]
        method = getattr(self.view, getattr(self.view, "action", self.method.lower()), None)
        own = getattr(method, "__doc__", None) or self.view.__class__.__dict__.get("__doc__")
        return inspect.cleandoc(own) if own else ""

    def get_tags(self) -> list[str]:
        segments = self.path.removeprefix("/api/v1/").split("/")
        return [TAGS.get(segments[0], segments[0])]

    def get_operation_id(self) -> str:
        from ballast.api.pagination import PageQuery

        operation_id = str(super().get_operation_id())
        query = getattr(self.view, "query_serializers", {}).get(self.method.lower())
        if query is not None and issubclass(query, PageQuery):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _is_tenant_view(self) -> bool:
        from ballast.api.views import TenantScopedMixin

        return isinstance(self.view, TenantScopedMixin)

    def get_override_parameters(self) -> list[Any]:
        parameters: list[Any] = list(super().get_override_parameters())
        query = getattr(self.view, "query_serializers", {}).get(self.method.lower())
        if query is not None:
            parameters.append(query)
        if self.method in UNSAFE and self._is_tenant_view():
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    {
                        "type": "string",
                        # Printable ASCII; HTTP drops a header value's leading and trailing spaces.
                        "pattern": rf"^[\x21-\x7e]([\x20-\x7e]{{0,{MAX_CLIENT_KEY_LENGTH - 2}}}[\x21-\x7e])?$",
                    },
                    OpenApiParameter.HEADER,
                    description=f"1 to {MAX_CLIENT_KEY_LENGTH} printable ASCII characters: a repeat of the request "
                    "answers the first one's response (Idempotent-Replayed: true) instead of acting again.",
                )
            )
        return parameters

    def _map_serializer(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, StrictSerializer) and "properties" in schema:
            schema["additionalProperties"] = False
        return schema

    def _problem_statuses(self) -> list[int]:
        statuses = [400, 401, 403, 406, 429]
        if "{" in self.path:
            statuses.append(404)
        if self.method in UNSAFE:
            statuses += [413, 415]
            if self._is_tenant_view():
                statuses += [409, 422]
        return statuses

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        problem = {PROBLEM_CONTENT_TYPE: {"schema": self.resolve_serializer(ProblemSerializer, "response").ref}}
        query = getattr(self.view, "query_serializers", {}).get(self.method.lower())
        listing = query is not None and "cursor" in query._declared_fields
        for status in self._problem_statuses():
            responses.setdefault(str(status), {})
        for code, response in responses.items():
            status = int(code)
            if status < 400:
                response["description"] = response.get("description") or HTTPStatus(status).phrase
                continue
            if not response.get("description") or response["description"] == "Problem details":
                response["description"] = _description(status, listing=listing, tenant=self._is_tenant_view())
            response["content"] = problem
        return dict(sorted(responses.items()))
