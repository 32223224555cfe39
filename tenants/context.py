"""The tenant context: the single way in to tenant-owned rows.

`tenant_scope(tenant_id)` opens a transaction on the app alias and sets
`app.tenant_id` with `set_config(..., true)`: transaction-local, so a pooled
connection handed to the next request carries no tenant. Row-level security
policies read that setting; tenant-scoped managers read the contextvar.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections, transaction

_current_tenant: contextvars.ContextVar[int | None] = contextvars.ContextVar("ballast_tenant_id", default=None)


class TenantContextError(RuntimeError):
    """Tenant-owned data was touched without a tenant context, or the context was misused."""


def current_tenant_id() -> int | None:
    return _current_tenant.get()


def require_tenant_id() -> int:
    """The current tenant, or TenantContextError: tenant code fails closed."""
    tenant_id = _current_tenant.get()
    if tenant_id is None:
        raise TenantContextError(
            "No tenant context: wrap this code in tenants.context.tenant_scope(tenant_id), "
            "or use .unscoped() if it is system code that must cross tenants."
        )
    return tenant_id


def _set_database_tenant(using: str, value: str) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [value])


@contextmanager
def tenant_scope(tenant_id: int, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[int]:
    """Run the block in a transaction bound to one tenant. Nesting the same tenant joins the outer scope
    (like atomic(savepoint=False)); nesting another tenant raises."""
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool) or tenant_id <= 0:
        raise TenantContextError(f"tenant_scope needs a positive integer tenant id, not {tenant_id!r}")
    outer = _current_tenant.get()
    if outer is not None and outer != tenant_id:
        raise TenantContextError(f"Already inside tenant_scope({outer}); refusing to switch to tenant {tenant_id}")
    connection = connections[using]
    if outer == tenant_id and connection.in_atomic_block:
        # Already bound to this tenant: join the outer scope (no savepoint, no round trips).
        yield tenant_id
        return
    had_transaction = connection.in_atomic_block
    with transaction.atomic(using=using):
        _set_database_tenant(using, str(tenant_id))
        token = _current_tenant.set(tenant_id)
        try:
            yield tenant_id
        finally:
            _current_tenant.reset(token)
        # Inside a caller's transaction the setting would outlive this block: put it back.
        # (On an exception the savepoint rollback restores it by itself.)
        if had_transaction and outer is None:
            _set_database_tenant(using, "")
