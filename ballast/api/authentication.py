"""`Authorization: Bearer <token>` (or `Token <token>`) resolves a user, a membership and its tenant."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from ballast.tenants.models import ApiToken
from ballast.tenants.selectors import token_by_plaintext, touch_token
from ballast.tenants.tokens import parse_prefix

KEYWORDS = (b"bearer", b"token")


class TenantSuspended(exceptions.PermissionDenied):
    default_code = "tenant_suspended"


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() not in KEYWORDS:
            return None  # another scheme: not ours to judge
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Malformed Authorization header: expected 'Bearer <token>'."), code="malformed_token"
            )
        try:
            plaintext = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Malformed token: not ASCII."), code="malformed_token") from None
        prefix = parse_prefix(plaintext)
        if prefix is None:
            raise exceptions.AuthenticationFailed(
                _("Malformed token: expected bl_<12 characters>_<43 characters>."), code="malformed_token"
            )
        token = token_by_plaintext(plaintext, prefix)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."), code="invalid_token")
        if token.is_revoked:
            raise exceptions.AuthenticationFailed(_("This token has been revoked."), code="token_revoked")
        user = token.membership.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("This token's user is inactive."), code="user_inactive")
        if not token.tenant.is_active:
            raise TenantSuspended(f"Tenant '{token.tenant.slug}' is suspended.")
        touch_token(token)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ballast.api.authentication.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A Ballast API token: bl_<prefix>_<secret>."}
