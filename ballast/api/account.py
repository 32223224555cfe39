from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api.permissions import IsTenantManager, IsTenantMember
from ballast.api.views import TenantAPIView, credential
from ballast.tenants.audit import actor_for_user
from ballast.tenants.selectors import tokens_of_current_tenant
from ballast.tenants.serializers import ApiTokenSerializer, MeSerializer, TenantSerializer
from ballast.tenants.services import revoke_token


class TokenInUse(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "token_in_use"
    default_detail = "A token may not revoke itself: revoke it with another owner's or admin's token."


class MeView(TenantAPIView):
    @extend_schema(responses=MeSerializer, summary="Who this credential is: user, tenant and role")
    def get(self, request: Request) -> Response:
        """The user, tenant, role and token (id, prefix, name) the request's credential stands for."""
        token = credential(request)
        user = token.membership.user
        return Response(
            {
                "user": {"id": user.pk, "username": user.get_username()},
                "tenant": TenantSerializer(token.tenant).data,
                "role": token.membership.role,
                "token": {"id": token.pk, "prefix": token.display_prefix, "name": token.name},
            }
        )


class TokenListView(TenantAPIView):
    @extend_schema(responses=ApiTokenSerializer(many=True), summary="The tenant's API tokens")
    def get(self, request: Request) -> Response:
        """Every API token of the tenant, revoked ones included (with `revoked_at`); never a secret."""
        return Response(ApiTokenSerializer(tokens_of_current_tenant(), many=True).data)


class TokenDetailView(TenantAPIView):
    def get_permissions(self) -> list[Any]:
        if self.request.method == "DELETE":
            return [IsTenantManager()]
        return [IsTenantMember()]

    @extend_schema(responses=ApiTokenSerializer, summary="One API token (never its secret)")
    def get(self, request: Request, token_id: int) -> Response:
        """One of the tenant's API tokens, revoked or not."""
        token = get_object_or_404(tokens_of_current_tenant(), pk=token_id)
        return Response(ApiTokenSerializer(token).data)

    @extend_schema(
        responses={
            200: ApiTokenSerializer,
            409: OpenApiResponse(description="The token is the one making the request (`token-in-use`)."),
        },
        summary="Revoke an API token (owners and admins)",
    )
    def delete(self, request: Request, token_id: int) -> Response:
        """Revokes the token at once (every later request with it gets 401 `token-revoked`) and answers it with
        `revoked_at`. Revoking twice changes nothing. A token may not revoke itself (409 `token-in-use`)."""
        token = get_object_or_404(tokens_of_current_tenant(), pk=token_id)
        if token.pk == credential(request).pk:
            raise TokenInUse()
        revoke_token(token=token, actor=actor_for_user(request.user))
        return Response(ApiTokenSerializer(token).data, status=status.HTTP_200_OK)
