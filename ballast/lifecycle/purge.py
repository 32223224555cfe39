"""Tenant purge: remove one suspended tenant's data, scope by scope, without a big DELETE.

The tables come from the models: every tenant-owned model (ballast.lib.rls.tenant_owned_models), grouped into
scopes by app, deleted children before parents (foreign-key order), the audit log last. `--mode delete` removes
rows in bounded batches (ballast.lib.batched_delete: LIMIT per statement, `lock_timeout`), each batch its own
transaction under the tenant's row-level security, so no statement can reach another tenant's rows.
`--mode partition`, for a tenant with partitions of its own (lifecycle.dedicated_tenants), first detaches and drops its
leaves in the per-tenant tables in scope (the purge's own job rows are put back first), then runs the same
bounded-batch delete over every table in scope: it finds nothing left where a leaf went, and removes the rest
(tables without per-tenant leaves: jobs_job, documents, ...). The tenant is then no longer dedicated.

What stays: the tenant row, and the purge's own record: its job (with attempts and checkpoints) and the
`tenant.purged` audit row written after the audit scope went. A later purge with the audit scope removes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import connections, models

from ballast.lib.batched_delete import DEFAULT_BATCH, delete_batch
from ballast.lib.owner_role import owner_configured, owner_hint
from ballast.lifecycle import dedicated_tenants
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import AuditEntry, Tenant
from ballast.tenants.owned_models import tenant_owned_models
from ballast.uploads import keys

SYSTEM = "system"
OWNER = "owner"
MODES = ("delete", "partition")
# Scope of each app's tables; an app not listed is a scope of its own name (so a new app is never skipped).
APP_SCOPES = {"jobs": "jobs", "outbox": "events", "webhooks": "webhooks", "emails": "emails", "uploads": "documents"}
AUDIT_SCOPE = "audit"
ACCESS_SCOPE = "access"  # memberships and API tokens
STORAGE = "storage objects"


class PurgeError(Exception):
    """The purge was refused: its message says why and what to do."""


def scope_of(model: type[models.Model]) -> str:
    if model is AuditEntry:
        return AUDIT_SCOPE
    if model._meta.app_label == "tenants":
        return ACCESS_SCOPE
    return APP_SCOPES.get(model._meta.app_label, model._meta.app_label)


def _children_first(tenant_models: list[type[models.Model]]) -> list[type[models.Model]]:
    """Topological order: a model comes before every model it has a foreign key to (the audit log last)."""
    remaining = sorted(tenant_models, key=lambda m: m._meta.db_table)
    ordered: list[type[models.Model]] = []
    while remaining:
        for model in remaining:
            referenced_by = [
                other
                for other in remaining
                if other is not model
                and any(f.many_to_one and f.related_model is model for f in other._meta.concrete_fields)
            ]
            if not referenced_by:
                ordered.append(model)
                remaining.remove(model)
                break
        else:  # a cycle: cannot happen with today's models; say so rather than loop
            raise PurgeError(f"Foreign-key cycle among {[m._meta.db_table for m in remaining]}")
    return [m for m in ordered if m is not AuditEntry] + [m for m in ordered if m is AuditEntry]


def all_scopes() -> list[str]:
    return sorted({scope_of(model) for model in tenant_owned_models()})


def purge_tables(scopes: Iterable[str]) -> list[tuple[str, str]]:
    """[(scope, table)] in deletion order."""
    wanted = set(scopes)
    unknown = wanted - set(all_scopes())
    if unknown:
        raise PurgeError(f"Unknown scope(s) {', '.join(sorted(unknown))}; scopes: {', '.join(all_scopes())}")
    return [
        (scope_of(model), model._meta.db_table)
        for model in _children_first(tenant_owned_models())
        if scope_of(model) in wanted
    ]


ALL = "all"


def parse_scopes(value: str) -> list[str]:
    """`--scope`: comma-separated scopes, or `all`; never empty (a purge of everything is asked for by name)."""
    scopes = [s.strip() for s in value.split(",") if s.strip()]
    if not scopes:
        raise PurgeError(f"--scope is required: name the scopes ({', '.join(all_scopes())}) or {ALL}")
    if scopes == [ALL]:
        return all_scopes()
    purge_tables(scopes)  # unknown scopes are refused
    return sorted(set(scopes))


def named_tenant(*, slug: str, confirm_slug: str) -> Tenant:
    """The tenant named twice alike; PurgeError otherwise."""
    if slug != confirm_slug:
        raise PurgeError(f"--confirm-tenant {confirm_slug!r} does not match --tenant {slug!r}: nothing was done")
    tenant = Tenant.objects.using(SYSTEM).filter(slug=slug).first()
    if tenant is None:
        raise PurgeError(f"No tenant {slug!r}")
    return tenant


def refuse_active(tenant: Tenant) -> None:
    """Only a suspended tenant may be purged (its plan may be read any time)."""
    if tenant.is_active:
        raise PurgeError(_active(tenant))


def _active(tenant: Tenant) -> str:
    return (
        f"Tenant {tenant.slug!r} is active: suspend it first (manage.py tenant_suspend {tenant.slug}; its tokens "
        "then get 403), then purge"
    )


def _owner_needed_by(scopes: list[str], mode: str) -> list[str]:
    needs = []
    if AUDIT_SCOPE in scopes:
        needs.append("the audit scope (the audit log is append-only for the runtime roles)")
    if mode == "partition":
        needs.append("--mode partition (it detaches and drops partitions)")
    return needs


def refusals(*, tenant: Tenant, scopes: list[str], mode: str, inline: bool, command_line: str) -> list[str]:
    """Why `--execute` would be refused, each in one line (`command_line`: the command to run instead). Reads
    only: the dry run reports these, the real run refuses with them before its first write."""
    found = [_active(tenant)] if tenant.is_active else []
    needs = _owner_needed_by(scopes, mode)
    if needs and not owner_configured():
        found.append(f"{' and '.join(needs)} {owner_hint(command_line)}")
    elif needs and not inline:
        found.append(
            f"{' and '.join(needs)} needs the schema owner's connection, which a worker never has: add --inline "
            "(the purge then runs in this process)"
        )
    return found


def storage_prefixes(tenant_id: int) -> list[str]:
    """Where the tenant's objects are (uploads.keys: t/<tenant>/tmp/… while uploading, t/<tenant>/docs/…)."""
    return [f"t/{tenant_id}/{area}/" for area in (keys.UPLOADING, keys.FINAL)]


def storage_objects(tenant_id: int) -> list[Any]:
    """Every stored object of the tenant, through the uploads backend (ObjectInfo: key, size)."""
    storage = _storage()
    return [info for prefix in storage_prefixes(tenant_id) for info in storage.list(prefix)]


@dataclass
class PurgePlan:
    tenant_id: int
    slug: str
    mode: str
    scopes: list[str]
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows that would go
    objects: int = 0
    bytes: int = 0
    partitions: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"Purge plan for tenant {self.slug} (id {self.tenant_id}), mode {self.mode}, scopes {self.scopes}:"]
        out += [f"  {table}: {count} rows" for table, count in self.rows.items()]
        if self.partitions:
            out += [f"  partition {name}: dropped" for name in self.partitions]
        if "documents" in self.scopes:
            out.append(f"  {STORAGE}: {self.objects} ({self.bytes} bytes)")
        out.append(f"  total: {sum(self.rows.values())} rows")
        return out


def _storage() -> Any:
    from ballast.uploads.storage import get_storage

    return get_storage()


def plan(*, tenant: Tenant, scopes: list[str], mode: str) -> PurgePlan:
    """What the purge would remove. Reads only."""
    if mode not in MODES:
        raise PurgeError(f"Unknown mode {mode!r}; modes: {', '.join(MODES)}")
    result = PurgePlan(tenant_id=tenant.pk, slug=tenant.slug, mode=mode, scopes=sorted(scopes))
    with connections[SYSTEM].cursor() as cursor:
        for _scope, table in purge_tables(scopes):
            cursor.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [tenant.pk])  # noqa: S608
            result.rows[table] = int(cursor.fetchone()[0])
    if mode == "partition":
        result.partitions = dedicated_tenants.tenant_partitions(tenant.pk, tables=[t for _s, t in purge_tables(scopes)])
    if "documents" in scopes:
        for info in storage_objects(tenant.pk):
            result.objects += 1
            result.bytes += info.size
    return result


# The purge's own job record (it finishes after the purge): the column naming the job in each table holding it.
_OWN_JOB_COLUMN = {
    "jobs_job": "id",
    "jobs_jobattempt": "job_id",
    "jobs_checkpoint": "job_id",
    "jobs_deadletter": "job_id",
}


def _where(table: str, keep_job_id: int | None) -> tuple[str, list[Any]]:
    """The rows of the tenant, except the purge's own job record."""
    column = _OWN_JOB_COLUMN.get(table)
    if keep_job_id is None or column is None:
        return "tenant_id = %s", []
    return f"tenant_id = %s AND {column} <> %s", [keep_job_id]


def _kept(table: str, *, keep_job_id: int | None) -> str | None:
    """SQL for the rows of the tenant a partition drop must put back: the purge's own job record."""
    column = _OWN_JOB_COLUMN.get(table)
    if keep_job_id is None or column is None:
        return None
    return f"{column} = {int(keep_job_id)}"


def _alias_for(table: str) -> str:
    """The audit log is append-only for the runtime roles: only the owner may delete from it."""
    if table == AuditEntry._meta.db_table:
        if not owner_configured():
            raise PurgeError(
                "The audit scope needs the owner role (the audit log is append-only for the runtime roles): "
                "run the purge inline through scripts/with-owner.sh, or leave the audit scope out"
            )
        return OWNER
    return "default"


def purge_step(
    *,
    tenant_id: int,
    scopes: list[str],
    state: dict[str, Any],
    batch: int = DEFAULT_BATCH,
    keep_job_id: int | None = None,
    save: Callable[[dict[str, Any]], None] = lambda state: None,
) -> dict[str, Any]:
    """Run the delete-mode purge from `state` (a checkpoint: {"done": [...], "deleted": {table: n}, "objects": n,
    "bytes": n}) to the end, calling `save(state)` after every batch. Safe to stop anywhere and call again
    with the last saved state: every step deletes what is left of the tenant's rows."""
    state.setdefault("done", [])
    state.setdefault("deleted", {})
    state.setdefault("objects", 0)
    state.setdefault("bytes", 0)
    if "documents" in scopes and STORAGE not in state["done"]:
        storage = _storage()
        for count, info in enumerate(storage_objects(tenant_id), start=1):
            freed = storage.delete(info.key)
            if freed is not None:
                state["objects"] += 1
                state["bytes"] += freed
            if count % 100 == 0:
                save(state)
        state["done"].append(STORAGE)
        save(state)
    for _scope, table in purge_tables(scopes):
        if table in state["done"]:
            continue
        where, extra = _where(table, keep_job_id)
        using = _alias_for(table)
        # On the job's own connection a batch and its count commit together: a kill between them can neither lose
        # nor repeat a count. (The owner's audit deletes commit apart: one batch may go uncounted.)
        together = using == "default"
        while True:
            with tenant_scope(tenant_id, using=using):
                deleted = delete_batch(table=table, where=where, params=[tenant_id, *extra], using=using, batch=batch)
                state["deleted"][table] = state["deleted"].get(table, 0) + deleted
                if deleted < batch:
                    state["done"].append(table)
                if together:
                    save(state)
            if not together:
                save(state)
            if deleted < batch:
                break
    return state


PARTITIONS = "partitions"  # the partition step's mark in the checkpoint's "done"


def _require_owner_for_partitions() -> None:
    if not owner_configured():
        raise PurgeError(
            "--mode partition needs the owner role (it detaches and drops partitions): run the purge inline "
            "through scripts/with-owner.sh (--execute --inline)"
        )


def purge_partitions_step(
    *,
    tenant_id: int,
    scopes: list[str],
    state: dict[str, Any],
    keep_job_id: int | None = None,
    save: Callable[[dict[str, Any]], None] = lambda state: None,
) -> dict[str, Any]:
    """--mode partition, before purge_step: detach and drop the tenant's leaves in the tables of `scopes`
    (`save(state)` after each: state["partitions"] lists them), then forget the tenant as dedicated when no
    leaf of it is left. Safe to call again from any saved state."""
    state.setdefault("done", [])
    state.setdefault("deleted", {})
    state.setdefault("partitions", [])
    if PARTITIONS in state["done"]:
        return state
    _require_owner_for_partitions()

    def dropped(leaf: str) -> None:
        state["partitions"].append(leaf)
        save(state)

    dedicated_tenants.drop_tenant_partitions(
        tenant_id,
        tables=[table for _scope, table in purge_tables(scopes)],
        keep=partial(_kept, keep_job_id=keep_job_id),
        on_drop=dropped,
    )
    state["undedicated"] = dedicated_tenants.forget_if_unused(tenant_id)
    state["done"].append(PARTITIONS)
    save(state)
    return state


def start_purge(*, tenant: Tenant, scopes: list[str], mode: str, batch: int, actor: str) -> int:
    """Enqueue the purge job (in the purged tenant, lifecycle.tenant_purge); returns its id."""
    from django.db import transaction

    from ballast.jobs.services import enqueue

    refuse_active(tenant)
    purge_tables(scopes)  # refuses unknown scopes before anything is written
    if AUDIT_SCOPE in scopes and not owner_configured():
        raise PurgeError("The audit scope needs the owner role: run the purge inline through scripts/with-owner.sh")
    if mode == "partition":
        dedicated_tenants.tenant_partitions(tenant.pk)  # NoDedicatedPartitions for a tenant without its own
        _require_owner_for_partitions()
    with transaction.atomic(using="default"), tenant_scope(tenant.pk):
        job = enqueue(
            tenant=tenant.pk,
            job_type="lifecycle.tenant_purge",
            payload={"scopes": sorted(scopes), "mode": mode, "batch": batch, "actor": actor},
            actor=actor,
        )
    return int(job.pk)
