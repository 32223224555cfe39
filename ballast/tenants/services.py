"""Write services for tenants, memberships and API tokens."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from ballast.tenants.audit import SYSTEM_ACTOR, record
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import ApiToken, Membership, Role, Tenant
from ballast.tenants.tokens import generate_token

SYSTEM = "system"


class TenantError(ValueError):
    """A tenant operation was asked for something invalid; the message says what."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def create_tenant(*, slug: str, name: str | None = None, actor: str = SYSTEM_ACTOR) -> Tenant:
    if slugify(slug) != slug or not slug:
        raise TenantError(f"Tenant slug must be lowercase letters, digits and hyphens, not {slug!r}")
    with transaction.atomic(using=SYSTEM):
        if Tenant.objects.using(SYSTEM).filter(slug=slug).exists():
            raise TenantError(f"Tenant {slug!r} already exists")
        tenant = Tenant.objects.using(SYSTEM).create(slug=slug, name=name or slug)
        record(
            tenant_id=tenant.pk,
            actor=actor,
            action="tenant.created",
            target_type="tenant",
            target_id=tenant.pk,
            data={"slug": tenant.slug, "name": tenant.name},
            using=SYSTEM,
        )
        return tenant


def set_tenant_status(*, tenant: Tenant, status: Tenant.Status, actor: str = SYSTEM_ACTOR) -> Tenant:
    """Suspend or resume. Safe to call twice: only a change is written and audited."""
    change_tenant_status(tenant=tenant, status=status, actor=actor)
    return tenant


def change_tenant_status(*, tenant: Tenant, status: Tenant.Status, actor: str = SYSTEM_ACTOR) -> bool:
    """Suspend or resume; whether the status changed (only a change is written and audited). The admin's
    actions and `manage.py tenant_suspend` / `tenant_resume` call it."""
    with transaction.atomic(using=SYSTEM):
        changed = Tenant.objects.using(SYSTEM).filter(pk=tenant.pk).exclude(status=status).update(status=status)
        if changed:
            action = "tenant.suspended" if status == Tenant.Status.SUSPENDED else "tenant.resumed"
            record(
                tenant_id=tenant.pk, actor=actor, action=action, target_type="tenant", target_id=tenant.pk, using=SYSTEM
            )
    tenant.status = status
    return bool(changed)


def rename_tenant(*, tenant: Tenant, name: str, actor: str = SYSTEM_ACTOR) -> Tenant:
    if not name.strip():
        raise TenantError("A tenant's name may not be blank")
    with transaction.atomic(using=SYSTEM):
        old = Tenant.objects.using(SYSTEM).select_for_update().get(pk=tenant.pk).name
        if old != name:
            Tenant.objects.using(SYSTEM).filter(pk=tenant.pk).update(name=name)
            record(
                tenant_id=tenant.pk,
                actor=actor,
                action="tenant.renamed",
                target_type="tenant",
                target_id=tenant.pk,
                data={"from": old, "to": name},
                using=SYSTEM,
            )
    tenant.name = name
    return tenant


def ensure_membership(*, tenant: Tenant, user: AbstractBaseUser, role: Role, actor: str = SYSTEM_ACTOR) -> Membership:
    """The user's membership of the tenant, created with `role` when missing, updated to `role` otherwise."""
    with tenant_scope(tenant.pk):
        membership = Membership.objects.select_for_update().filter(user_id=user.pk).first()
        if membership is None:
            membership = Membership.objects.create(tenant_id=tenant.pk, user_id=user.pk, role=role)
            action, data = "membership.created", {"user": user.get_username(), "role": str(role)}
        elif membership.role != role:
            data = {"user": user.get_username(), "from": membership.role, "to": str(role)}
            membership.role = role
            membership.save(update_fields=["role"])
            action = "membership.role_changed"
        else:
            return membership
        record(
            tenant_id=tenant.pk,
            actor=actor,
            action=action,
            target_type="membership",
            target_id=membership.pk,
            data=data,
        )
        return membership


def remove_membership(*, membership: Membership, actor: str = SYSTEM_ACTOR) -> None:
    """The member leaves the tenant; their tokens go with the membership."""
    with tenant_scope(membership.tenant_id):
        tokens = list(ApiToken.objects.filter(membership_id=membership.pk).values_list("prefix", flat=True))
        record(
            tenant_id=membership.tenant_id,
            actor=actor,
            action="membership.removed",
            target_type="membership",
            target_id=membership.pk,
            data={"user_id": membership.user_id, "role": membership.role, "tokens": [f"bl_{p}" for p in tokens]},
        )
        Membership.objects.filter(pk=membership.pk).delete()


def issue_token(*, membership: Membership, name: str = "", actor: str = SYSTEM_ACTOR) -> IssuedToken:
    new = generate_token()
    with tenant_scope(membership.tenant_id):
        token = ApiToken.objects.create(
            tenant_id=membership.tenant_id,
            membership=membership,
            name=name,
            prefix=new.prefix,
            key_hash=new.key_hash,
        )
        record(
            tenant_id=membership.tenant_id,
            actor=actor,
            action="token.issued",
            target_type="api_token",
            target_id=token.pk,
            data={"prefix": token.display_prefix, "membership_id": membership.pk, "name": name},
        )
    return IssuedToken(token=token, plaintext=new.plaintext)


def revoke_token(*, token: ApiToken, actor: str = SYSTEM_ACTOR) -> ApiToken:
    """Safe to call twice: only the first revocation is written and audited."""
    with tenant_scope(token.tenant_id):
        now = timezone.now()
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            record(
                tenant_id=token.tenant_id,
                actor=actor,
                action="token.revoked",
                target_type="api_token",
                target_id=token.pk,
                data={"prefix": token.display_prefix},
            )
            token.revoked_at = now
        else:
            token.revoked_at = ApiToken.objects.filter(pk=token.pk).values_list("revoked_at", flat=True).first()
    return token


def create_user_token(
    *, tenant: Tenant, username: str, role: Role, token_name: str = "", actor: str = SYSTEM_ACTOR
) -> IssuedToken:
    """The user (created when missing), their membership with `role`, and a new token for it."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username)
    membership = ensure_membership(tenant=tenant, user=user, role=role, actor=actor)
    return issue_token(membership=membership, name=token_name, actor=actor)


@dataclass(frozen=True)
class DevBootstrap:
    admin_username: str
    admin_password: str
    tokens: list[str]


DEV_ADMIN = ("admin", "admin-password")
DEV_TENANTS = {"acme": "Acme Corp", "globex": "Globex Corporation"}


def bootstrap_dev_data(*, actor: str = SYSTEM_ACTOR) -> DevBootstrap:
    """Dev/ci seed data. Safe to run twice: existing rows are kept, new tokens are issued each time."""
    user_model = get_user_model()
    username, password = DEV_ADMIN
    admin, _ = user_model.objects.get_or_create(username=username, defaults={"email": "admin@example.com"})
    admin.is_staff = admin.is_superuser = True
    admin.set_password(password)
    admin.save()
    lines = []
    for slug, name in DEV_TENANTS.items():
        tenant = Tenant.objects.using(SYSTEM).filter(slug=slug).first() or create_tenant(
            slug=slug, name=name, actor=actor
        )
        for role in (Role.ADMIN, Role.VIEWER):
            label = "bootstrap_dev"
            issued = create_user_token(
                tenant=tenant, username=f"{slug}-{role}", role=role, token_name=label, actor=actor
            )
            lines.append(f"Token for {slug} ({role}, user {slug}-{role}): {issued.plaintext}")
    return DevBootstrap(admin_username=username, admin_password=password, tokens=lines)
