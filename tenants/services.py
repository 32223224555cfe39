"""Write services for tenants, memberships and API tokens."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from tenants.context import tenant_scope
from tenants.models import ApiToken, Membership, Role, Tenant
from tenants.tokens import generate_token


class TenantError(ValueError):
    """A tenant operation was asked for something invalid; the message says what."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def create_tenant(*, slug: str, name: str | None = None) -> Tenant:
    if slugify(slug) != slug or not slug:
        raise TenantError(f"Tenant slug must be lowercase letters, digits and hyphens, not {slug!r}")
    with transaction.atomic(using="system"):
        if Tenant.objects.using("system").filter(slug=slug).exists():
            raise TenantError(f"Tenant {slug!r} already exists")
        return Tenant.objects.using("system").create(slug=slug, name=name or slug)


def set_tenant_status(*, tenant: Tenant, status: Tenant.Status) -> Tenant:
    Tenant.objects.using("system").filter(pk=tenant.pk).update(status=status)
    tenant.status = status
    return tenant


def ensure_membership(*, tenant: Tenant, user: AbstractBaseUser, role: Role) -> Membership:
    """The user's membership of the tenant, created with `role` when missing, updated to `role` otherwise."""
    with tenant_scope(tenant.pk):
        membership, _created = Membership.objects.update_or_create(
            tenant_id=tenant.pk, user_id=user.pk, defaults={"role": role}
        )
        return membership


def issue_token(*, membership: Membership, name: str = "") -> IssuedToken:
    new = generate_token()
    with tenant_scope(membership.tenant_id):
        token = ApiToken.objects.create(
            tenant_id=membership.tenant_id,
            membership=membership,
            name=name,
            prefix=new.prefix,
            key_hash=new.key_hash,
        )
    return IssuedToken(token=token, plaintext=new.plaintext)


def revoke_token(*, token: ApiToken) -> ApiToken:
    """Must run inside tenant_scope. Safe to call twice."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def create_user_token(*, tenant: Tenant, username: str, role: Role, token_name: str = "") -> IssuedToken:
    """The user (created when missing), their membership with `role`, and a new token for it."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username)
    membership = ensure_membership(tenant=tenant, user=user, role=role)
    return issue_token(membership=membership, name=token_name)


@dataclass(frozen=True)
class DevBootstrap:
    admin_username: str
    admin_password: str
    tokens: list[str]


DEV_ADMIN = ("admin", "admin-password")
DEV_TENANTS = {"acme": "Acme Corp", "globex": "Globex Corporation"}


def bootstrap_dev_data() -> DevBootstrap:
    """Dev/ci seed data. Safe to run twice: existing rows are kept, new tokens are issued each time."""
    user_model = get_user_model()
    username, password = DEV_ADMIN
    admin, _ = user_model.objects.get_or_create(username=username, defaults={"email": "admin@example.com"})
    admin.is_staff = admin.is_superuser = True
    admin.set_password(password)
    admin.save()
    lines = []
    for slug, name in DEV_TENANTS.items():
        tenant = Tenant.objects.using("system").filter(slug=slug).first() or create_tenant(slug=slug, name=name)
        for role in (Role.ADMIN, Role.VIEWER):
            label = "bootstrap_dev"
            issued = create_user_token(tenant=tenant, username=f"{slug}-{role}", role=role, token_name=label)
            lines.append(f"Token for {slug} ({role}, user {slug}-{role}): {issued.plaintext}")
    return DevBootstrap(admin_username=username, admin_password=password, tokens=lines)
