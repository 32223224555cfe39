"""The bases of the API's views. ApiRequestMixin holds every view to its contract (the method, the body's
size, the declared query parameters); TenantScopedMixin runs the handler inside tenant_scope of the
credential's tenant, and every mutating request honours Idempotency-Key (api.idempotency)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ballast.api import idempotency
from ballast.api.problem_details import json_problem_response, request_too_large
from ballast.api.serializers import StrictSerializer
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import ApiToken


def refuse_nul_in_query(request: Request) -> None:
    """400 for a NUL character in any query parameter: Postgres text cannot hold one (it would be a 500)."""
    bad = {
        name: ["Contains a NUL character."]
        for name, values in request.query_params.lists()
        if "\x00" in name + "".join(values)
    }
    if bad:
        raise exceptions.ValidationError(bad)


class NoQuery(StrictSerializer):
    """An operation without query parameters: any one is unknown."""

    json_types = False  # query parameters are strings


def _content_length(request: Request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


class ApiRequestMixin:
    """Put first in the bases of every API view (TenantScopedMixin includes it).

    Before authentication: a method the path does not answer is a 405 (with Allow), a body over
    API_MAX_BODY_BYTES a 413 (unless `streams_body`). After it: a query parameter the operation does not
    declare in `query_serializers` (by method) is a 400 naming it; the handler reads `self.query`.
    """

    query_serializers: ClassVar[dict[str, type[serializers.Serializer[Any]]]] = {}
    streams_body: ClassVar[bool] = False
    query: dict[str, Any]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):  # type: ignore[attr-defined]
            raise exceptions.MethodNotAllowed(request.method or "")
        if not self.streams_body and _content_length(request) > settings.API_MAX_BODY_BYTES:
            raise request_too_large()
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        refuse_nul_in_query(request)
        query = self.query_serializers.get("get" if method == "head" else method, NoQuery)(
            data=request.query_params.dict()
        )
        query.is_valid(raise_exception=True)
        self.query = dict(query.validated_data)


def read_body(request: Request) -> bytes:
    """The raw body, at most API_MAX_BODY_BYTES (a chunked body has no Content-Length to check first)."""
    try:
        body = request._request.body
    except RequestDataTooBig:
        raise request_too_large() from None
    if len(body) > settings.API_MAX_BODY_BYTES:
        raise request_too_large()
    return body


class TenantScopedMixin(ApiRequestMixin):
    """Put first in the bases of every tenant API view.

    After authentication and permission checks, the handler runs inside `tenant_scope`, so the app
    role's row-level security and the scoped managers both see only the credential's tenant.
    A view may set `idempotency_derive_key = True` to key requests that carry no Idempotency-Key by
    their content (off by default).
    """

    idempotency_derive_key = False
    _tenant_stack: ExitStack
    _idempotency_claim: idempotency.Claim | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self._idempotency_claim = None
        try:
            with ExitStack() as stack:
                self._tenant_stack = stack
                response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
                if self._idempotency_claim is not None and not idempotency.finish(
                    self._idempotency_claim, response, committed_with_business=True
                ):
                    # Another request took the key over while this one ran: only one of them may commit.
                    transaction.set_rollback(True)
                    return json_problem_response(
                        409, str(idempotency.RequestInFlight.default_detail), code="idempotency_in_flight"
                    )
                return response
        except BaseException:
            if self._idempotency_claim is not None:
                idempotency.release(self._idempotency_claim)
            raise

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        token = request.auth
        if not isinstance(token, ApiToken):
            raise exceptions.PermissionDenied("This credential belongs to no tenant.", code="no_tenant")
        self._tenant_stack.enter_context(tenant_scope(token.tenant_id))
        if request.method in idempotency.UNSAFE_METHODS:
            body = read_body(request)
            if body:
                request.data  # noqa: B018  (parsed now: a malformed or too deep body is a 400 before any claim)
            self._begin_idempotent(request, token, body)

    def _begin_idempotent(self, request: Request, token: ApiToken, body: bytes) -> None:
        key = idempotency.request_key(request)
        if key is None and self.idempotency_derive_key:
            key = idempotency.derived_key(request.method or "", request.path, body)
        if key is None:
            return
        self._idempotency_claim = idempotency.begin(
            tenant_id=token.tenant_id,
            token_id=token.pk,
            key=key,
            method=request.method or "",
            path=request.get_full_path(),
            body=body,
        )

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, idempotency.Replay):
            return exc.response  # type: ignore[return-value]
        return super().handle_exception(exc)  # type: ignore[misc]


class TenantAPIView(TenantScopedMixin, APIView):
    pass


def credential(request: Request) -> ApiToken:
    """The request's API token (views behind TenantScopedMixin always have one)."""
    token = request.auth
    if not isinstance(token, ApiToken):
        raise exceptions.NotAuthenticated()
    return token
