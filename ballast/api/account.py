from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api.permissions import IsTenantManager, IsTenantMember
from ballast.api.views import TenantAPIView, credential
from ballast.tenants.audit import actor_for_user
from ballast.tenants.selectors import tokens_of_current_tenant
from ballast.tenants.serializers import ApiTokenSerializer, MeSerializer, TenantSerializer
from ballast.tenants.services import revoke_token


class MeView(TenantAPIView):
    @extend_schema(responses=MeSerializer, summary="Who this credential is: user, tenant and role")
    def get(self, request: Request) -> Response:
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
        return Response(ApiTokenSerializer(tokens_of_current_tenant(), many=True).data)


class TokenDetailView(TenantAPIView):
    def get_permissions(self) -> list[Any]:
        if self.request.method == "DELETE":
            return [IsTenantManager()]
        return [IsTenantMember()]

    @extend_schema(responses=ApiTokenSerializer, summary="One API token (never its secret)")
    def get(self, request: Request, token_id: int) -> Response:
        token = get_object_or_404(tokens_of_current_tenant(), pk=token_id)
        return Response(ApiTokenSerializer(token).data)

    @extend_schema(responses=ApiTokenSerializer, summary="Revoke an API token (owners and admins)")
    def delete(self, request: Request, token_id: int) -> Response:
        token = get_object_or_404(tokens_of_current_tenant(), pk=token_id)
        revoke_token(token=token, actor=actor_for_user(request.user))
        return Response(ApiTokenSerializer(token).data, status=status.HTTP_200_OK)
