"""The DRF layer of tenancy: every tenant API view runs inside tenant_scope of its credential's tenant."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from tenants.context import tenant_scope
from tenants.models import ApiToken


class TenantScopedMixin:
    """Put first in the bases of every tenant API view.

    After authentication and permission checks, the handler runs inside `tenant_scope`, so the app
    role's row-level security and the scoped managers both see only the credential's tenant.
    """

    _tenant_stack: ExitStack

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with ExitStack() as stack:
            self._tenant_stack = stack
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        token = request.auth
        if not isinstance(token, ApiToken):
            raise exceptions.PermissionDenied("This credential belongs to no tenant.", code="no_tenant")
        self._tenant_stack.enter_context(tenant_scope(token.tenant_id))


class TenantAPIView(TenantScopedMixin, APIView):
    pass


def credential(request: Request) -> ApiToken:
    """The request's API token (views behind TenantScopedMixin always have one)."""
    token = request.auth
    if not isinstance(token, ApiToken):
        raise exceptions.NotAuthenticated()
    return token
