"""API permissions by membership role. Viewers read; members write; admins and owners manage."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from ballast.tenants.models import ApiToken, Role

MANAGER_ROLES = {Role.OWNER, Role.ADMIN}


def request_role(request: Request) -> str | None:
    token = request.auth
    return token.membership.role if isinstance(token, ApiToken) else None


class IsTenantMember(BasePermission):
    """Authenticated by an API token; viewers may only read."""

    message = "Viewer tokens may read, not write."

    def has_permission(self, request: Request, view: Any) -> bool:
        role = request_role(request)
        if role is None:
            return False
        return request.method in SAFE_METHODS or role != Role.VIEWER


class IsTenantManager(BasePermission):
    """Owners and admins of the tenant."""

    message = "Only a tenant owner or admin may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request_role(request) in MANAGER_ROLES
