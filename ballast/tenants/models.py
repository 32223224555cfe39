from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from ballast.tenants.managers import TenantScopedManager


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class TenantOwned(models.Model):
    """Base for every tenant-owned table. Its migration must apply EnableRowLevelSecurity (checked: tenants.E001)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")

    objects: ClassVar[TenantScopedManager] = TenantScopedManager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Membership(TenantOwned):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user_per_tenant"),
            # The target of ApiToken's composite foreign key (tenant_id, membership_id): see migration 0003.
            models.UniqueConstraint(fields=["tenant", "id"], name="membership_unique_id_per_tenant"),
        ]
        indexes = [models.Index(fields=["tenant", "role"], name="membership_tenant_role")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.tenant_id} ({self.role})"


class ApiToken(TenantOwned):
    """A bearer credential of one membership. The secret is never stored, only its hash.

    The database ties the token's tenant to its membership's: a composite foreign key (tenant_id,
    membership_id) → membership (tenant_id, id), so no write, admin or SQL, can move a token to another tenant.
    """

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "prefix"], name="apitoken_unique_prefix_per_tenant")]
        indexes = [models.Index(fields=["prefix"], name="apitoken_prefix")]

    def __str__(self) -> str:
        return f"bl_{self.prefix}…"

    @property
    def display_prefix(self) -> str:
        return f"bl_{self.prefix}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class AuditEntry(TenantOwned):
    """Append-only: the runtime roles may INSERT and SELECT, never UPDATE or DELETE (tenants/db_roles.py).
    Range-partitioned by month on `at` (real primary key (id, at, tenant_id)); retention drops whole months
    (lifecycle)."""

    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=100)
    trace_id = models.CharField(max_length=64, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "target_type", "target_id", "at"], name="audit_tenant_target"),
            models.Index(fields=["tenant", "at"], name="audit_tenant_at"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target_type}:{self.target_id}"


class OperatorAction(models.Model):
    """One row per operator action (ballast.jobs.actions, ballast.ops.actions), written in the action's transaction
    (tenants.audit.record_operator_action). Append-only. Crosses tenants (a paused queue belongs to none), so it is
    not tenant-owned; `tenant_id` says which one, if any."""

    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=200)
    tenant_id = models.BigIntegerField(null=True, blank=True)
    trace_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ops_operatoraction"
        default_permissions = ("view",)
        indexes = [models.Index(fields=["at"], name="opsaction_at")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target_type}:{self.target_id}"
