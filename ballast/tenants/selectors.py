"""Reads for tenants and tokens."""

from __future__ import annotations

from datetime import timedelta
from hmac import compare_digest

from django.db.models import QuerySet
from django.utils import timezone

from ballast.tenants.models import ApiToken, Tenant
from ballast.tenants.tokens import hash_token

LAST_USED_RESOLUTION = timedelta(minutes=1)


def tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.using("system").filter(slug=slug).first()


def token_by_plaintext(plaintext: str, prefix: str) -> ApiToken | None:
    """The token whose hash matches, across tenants: the tenant is what a token resolves to."""
    key_hash = hash_token(plaintext)
    candidates = ApiToken.objects.unscoped().select_related("tenant", "membership", "membership__user")
    for token in candidates.filter(prefix=prefix):
        if compare_digest(token.key_hash, key_hash):
            return token
    return None


def touch_token(token: ApiToken) -> None:
    """Record use, at most once a minute per token, so reads do not each cost a write."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.unscoped().filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def tokens_of_current_tenant() -> QuerySet[ApiToken]:
    """Must run inside tenant_scope. Users are read in a second query, through the system alias: the app role
    has no rights on auth_user (ballast.tenants.db_router)."""
    return ApiToken.objects.select_related("membership").prefetch_related("membership__user").order_by("-created_at")
