"""The base of every tenant API view: it runs inside tenant_scope of its credential's tenant, and every
mutating request honours Idempotency-Key (api.idempotency)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ballast.api import idempotency
from ballast.api.problem_details import json_problem_response
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


class TenantScopedMixin:
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
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        refuse_nul_in_query(request)
        token = request.auth
        if not isinstance(token, ApiToken):
            raise exceptions.PermissionDenied("This credential belongs to no tenant.", code="no_tenant")
        self._tenant_stack.enter_context(tenant_scope(token.tenant_id))
        if request.method in idempotency.UNSAFE_METHODS:
            self._begin_idempotent(request, token)

    def _begin_idempotent(self, request: Request, token: ApiToken) -> None:
        body = request._request.body  # the raw bytes (DRF has not parsed them yet)
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
