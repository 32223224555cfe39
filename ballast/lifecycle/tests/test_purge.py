"""Tenant purge: three tenants, only the purged one's rows and objects go; dry run, refusals, resumption."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from ballast.emails.models import EmailDelivery
from ballast.jobs.models import Batch, Checkpoint, DeadLetter, Job, JobAttempt, Schedule
from ballast.jobs.services import enqueue
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.lib.partitioned_tables import per_tenant_tables
from ballast.lifecycle import dedicated_tenants, purge
from ballast.lifecycle.health import check_health
from ballast.lifecycle.job_handlers import PURGE_JOB
from ballast.lifecycle.models import DedicatedTenant
from ballast.lifecycle.progress import job_progress
from ballast.outbox.models import IdempotencyRecord
from ballast.tenants.audit import record
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import ApiToken, AuditEntry, Tenant
from ballast.tenants.owned_models import tenant_owned_models
from ballast.tenants.services import set_tenant_status
from ballast.tenants.tests.factories import MembershipFactory, TenantFactory
from ballast.uploads import keys
from ballast.uploads.models import CleanupRun, Document, UploadIntent
from ballast.uploads.storage import get_storage
from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint

SYSTEM = "system"


@pytest.fixture
def storage_root(settings: Any, tmp_path: Path) -> Path:
    settings.UPLOADS_BACKEND = "local"
    settings.UPLOADS_LOCAL_ROOT = str(tmp_path / "objects")
    return tmp_path / "objects"


def seed(tenant: Tenant, *, jobs: int = 2) -> None:
    """At least one row in every tenant-owned table, and two stored objects."""
    now = timezone.now()
    membership = MembershipFactory(tenant=tenant)
    ApiToken.objects.unscoped().create(tenant=tenant, membership=membership, prefix=uuid.uuid4().hex[:8], key_hash="h")
    record(tenant_id=tenant.pk, actor="test", action="tenant.renamed", target_type="tenant", target_id=1, using=SYSTEM)
    with tenant_scope(tenant.pk):
        made = [enqueue(tenant=tenant.pk, job_type="diagnostics.echo", payload={"value": i}) for i in range(jobs)]
    job = made[0]
    JobAttempt.objects.unscoped().create(tenant=tenant, job=job, attempt=1, started_at=now, outcome="failed")
    Checkpoint.objects.unscoped().create(tenant=tenant, job=job, sequence=1, attempt=1, state={"n": 1})
    DeadLetter.objects.unscoped().create(tenant=tenant, job=job, job_type="x", reason="permanent", attempts=1)
    Batch.objects.unscoped().create(tenant=tenant, total=1, created_by="test")
    Schedule.objects.unscoped().create(
        tenant=tenant, name="nightly", job_type="diagnostics.echo", cron="0 3 * * *", created_by="test"
    )
    IdempotencyRecord.objects.unscoped().create(
        tenant=tenant, token_id=1, key="k", method="POST", path="/", fingerprint="f", locked_until=now,
        expires_at=now + timedelta(days=1),
    )  # fmt: skip
    endpoint = WebhookEndpoint.objects.unscoped().create(tenant=tenant, url="https://example.com/h", secret="s")
    WebhookDelivery.objects.unscoped().create(
        tenant=tenant, endpoint=endpoint, event_id="e", event_created_at=now, event_type="job.created",
        webhook_id="w", body="{}",
    )  # fmt: skip
    EmailDelivery.objects.unscoped().create(tenant=tenant, message_id="<m@x>", from_email="a@x", payload_hash="p")
    storage = get_storage()
    doc_key, tmp_key = keys.docs_key(tenant.pk, uuid.uuid4()), keys.tmp_key(tenant.pk, uuid.uuid4())
    for key in (doc_key, tmp_key):
        storage.write(key=key, stream=io.BytesIO(b"x" * 100), size=100, content_type="application/pdf")
    document = Document.objects.unscoped().create(
        tenant=tenant, name="a.pdf", content_type="application/pdf", size=100, storage_key=doc_key, created_by="t"
    )
    UploadIntent.objects.unscoped().create(
        tenant=tenant, kind="relay", filename="a.pdf", content_type="application/pdf", size=100, storage_key=tmp_key,
        expires_at=now, actor="t", document=document,
    )  # fmt: skip
    CleanupRun.objects.unscoped().create(tenant=tenant, kind="intents", trigger="job", started_at=now, finished_at=now)


def rows_by_table(tenant_id: int) -> dict[str, int]:
    counts = {}
    with connections[SYSTEM].cursor() as cursor:
        for model in tenant_owned_models():
            table = model._meta.db_table
            cursor.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [tenant_id])  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def objects_of(tenant_id: int) -> list[str]:
    return [info.key for info in purge.storage_objects(tenant_id)]


@pytest.fixture
def three(committed: None, redis: Any, storage_root: Path) -> tuple[Tenant, Tenant, Tenant]:
    acme, globex, initech = (TenantFactory.create(slug=slug) for slug in ("acme", "globex", "initech"))
    for tenant in (acme, globex, initech):
        seed(tenant)
    set_tenant_status(tenant=globex, status=Tenant.Status.SUSPENDED)
    return acme, globex, initech


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("tenant_purge", *args, stdout=out)
    return out.getvalue()


def test_every_tenant_owned_table_has_a_scope_and_children_go_before_parents() -> None:
    tables = [table for _scope, table in purge.purge_tables(purge.all_scopes())]
    assert sorted(tables) == sorted(model._meta.db_table for model in tenant_owned_models())
    for child, parent in [
        ("jobs_jobattempt", "jobs_job"),
        ("jobs_checkpoint", "jobs_job"),
        ("jobs_deadletter", "jobs_job"),
        ("webhooks_webhookdelivery", "webhooks_webhookendpoint"),
        ("uploads_uploadintent", "uploads_document"),
        ("tenants_apitoken", "tenants_membership"),
    ]:
        assert tables.index(child) < tables.index(parent)
    assert tables[-1] == "tenants_auditentry"
    assert {"jobs", "events", "documents", "audit", "webhooks", "emails", "access"} == set(purge.all_scopes())


def test_the_dry_run_prints_rows_and_objects_and_changes_nothing(three: tuple[Tenant, Tenant, Tenant]) -> None:
    _, globex, _ = three
    before = rows_by_table(globex.pk)
    out = run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", "all")
    assert "jobs_job: 2 rows" in out and "storage objects: 2 (200 bytes)" in out and "Dry run" in out
    assert rows_by_table(globex.pk) == before
    assert len(objects_of(globex.pk)) == 2
    assert Job.objects.unscoped().filter(job_type=PURGE_JOB).count() == 0


def test_an_active_tenant_and_a_slug_mismatch_are_refused(three: tuple[Tenant, Tenant, Tenant]) -> None:
    acme, globex, _ = three
    before = rows_by_table(acme.pk), rows_by_table(globex.pk)
    with pytest.raises(CommandError, match=r"acme.*is active: suspend it first \(manage.py tenant_suspend acme"):
        run("--tenant", "acme", "--confirm-tenant", "acme", "--scope", "all", "--execute", "--inline")
    dry = run("--tenant", "acme", "--confirm-tenant", "acme", "--scope", "all")  # its plan may be read: nothing changes
    assert "jobs_job: 2 rows" in dry and "would refuse: Tenant 'acme' is active: suspend it first" in dry
    assert "manage.py tenant_suspend acme" in dry
    with pytest.raises(CommandError, match="does not match"):
        run("--tenant", "globex", "--confirm-tenant", "acme", "--scope", "all", "--execute", "--inline")
    with pytest.raises(CommandError, match="Unknown scope"):
        run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", "jobz", "--execute", "--inline")
    assert (rows_by_table(acme.pk), rows_by_table(globex.pk)) == before
    assert Job.objects.unscoped().filter(job_type=PURGE_JOB).count() == 0


def test_the_scope_is_required_and_all_must_be_said(three: tuple[Tenant, Tenant, Tenant]) -> None:
    with pytest.raises(CommandError, match="--scope"):
        run("--tenant", "globex", "--confirm-tenant", "globex", "--execute", "--inline")
    with pytest.raises(CommandError, match="--scope is required"):
        run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", " , ", "--execute", "--inline")
    assert "scopes ['emails', 'webhooks']" in run(
        "--tenant", "globex", "--confirm-tenant", "globex", "--scope", "webhooks,emails"
    )
    assert Job.objects.unscoped().filter(job_type=PURGE_JOB).count() == 0


def test_without_the_owner_a_purge_changes_nothing_and_says_how_to_run_it(
    three: tuple[Tenant, Tenant, Tenant], without_owner: None
) -> None:
    _, globex, _ = three
    before = rows_by_table(globex.pk)

    with pytest.raises(CommandError) as refused:
        run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", "all", "--execute", "--inline")
    dry = run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", "all")

    assert str(refused.value) == (
        "the audit scope (the audit log is append-only for the runtime roles) needs the schema owner's connection "
        "(POSTGRES_OWNER_DSN): run it as scripts/with-owner.sh .venv/bin/python manage.py tenant_purge "
        "--tenant globex --confirm-tenant globex --scope all --mode delete --execute --inline"
    )
    assert "The real run would refuse: the audit scope" in dry
    assert rows_by_table(globex.pk) == before and len(objects_of(globex.pk)) == 2
    assert Job.objects.unscoped().filter(job_type=PURGE_JOB).count() == 0
    # Scopes the runtime roles may purge need no owner.
    run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", "emails", "--execute", "--inline")
    assert rows_by_table(globex.pk)["emails_emaildelivery"] == 0


def test_the_audit_scope_is_purged_inline_only_since_no_worker_holds_the_owner(
    three: tuple[Tenant, Tenant, Tenant],
) -> None:
    _, globex, _ = three
    before = rows_by_table(globex.pk)

    with pytest.raises(CommandError, match="which a worker never has: add --inline"):
        run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", "audit,jobs", "--execute", "--no-wait")

    assert rows_by_table(globex.pk) == before
    assert Job.objects.unscoped().filter(job_type=PURGE_JOB).count() == 0


def test_partition_mode_without_dedicated_partitions_says_what_to_do(three: tuple[Tenant, Tenant, Tenant]) -> None:
    with pytest.raises(CommandError, match=r"no partitions of its own: give it some with `manage\.py tenant_partition"):
        run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", "all", "--mode", "partition")
    with pytest.raises(CommandError, match="no partitions of its own"):
        run(
            "--tenant",
            "globex",
            "--confirm-tenant",
            "globex",
            "--scope",
            "all",
            "--mode",
            "partition",
            "--execute",
            "--inline",
        )
    assert Job.objects.unscoped().filter(job_type=PURGE_JOB).count() == 0


@pytest.fixture
def plain_periods(three: tuple[Tenant, Tenant, Tenant]) -> Iterator[None]:
    yield
    dedicated_tenants.reshape_all(tenant_id=0, execute=True, wanted=set())  # the test database outlives the test


def test_a_purge_by_partition_drops_the_dedicated_tenants_leaves_and_nothing_of_the_two_others(
    three: tuple[Tenant, Tenant, Tenant], plain_periods: None
) -> None:
    acme, globex, initech = three
    call_command("tenant_partition", "globex", "--execute", stdout=io.StringIO())
    leaves = dedicated_tenants.tenant_partitions(globex.pk)
    assert len(leaves) >= 2 * len(per_tenant_tables())  # this period and the next, at least, in each table
    others = {t.pk: (rows_by_table(t.pk), objects_of(t.pk)) for t in (acme, initech)}
    assert all(count > 0 for count in rows_by_table(globex.pk).values())

    dry = run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", "all", "--mode", "partition")
    assert all(f"partition {leaf}: dropped" in dry for leaf in leaves) and "Dry run" in dry
    out = run(
        "--tenant",
        "globex",
        "--confirm-tenant",
        "globex",
        "--scope",
        "all",
        "--mode",
        "partition",
        "--execute",
        "--inline",
    )
    assert "succeeded" in out and "progress:" in out

    left = rows_by_table(globex.pk)
    # What stays is the purge's own record: its job, its attempt, its checkpoints, its audit row.
    assert left.pop("jobs_job") == 1 and left.pop("jobs_jobattempt") == 1 and left.pop("jobs_checkpoint") >= 1
    assert left.pop("tenants_auditentry") == 1
    assert set(left.values()) == {0}
    assert objects_of(globex.pk) == []
    assert all(sql_value(f"SELECT to_regclass('{leaf}')") is None for leaf in leaves)
    assert not DedicatedTenant.objects.using(SYSTEM).exists()  # future periods get no leaf for it
    [entry] = AuditEntry.objects.unscoped().filter(tenant=globex)
    assert entry.action == "tenant.purged" and entry.data["mode"] == "partition"
    assert sorted(entry.data["partitions"]) == sorted(leaves) and entry.data["undedicated"] is True
    assert entry.data["deleted"]["jobs_job"] == 2 and entry.data["objects"] == 2  # the others, batched
    assert entry.data["deleted"]["jobs_jobattempt"] == 0  # its leaves went whole: nothing left to delete
    assert {t: (rows_by_table(t), objects_of(t)) for t in others} == others
    assert check_health().healthy


def sql_value(statement: str) -> Any:
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchone()[0]


def test_a_purge_removes_every_row_and_object_of_the_tenant_and_nothing_of_the_two_others(
    three: tuple[Tenant, Tenant, Tenant],
) -> None:
    acme, globex, initech = three
    others = {t.pk: (rows_by_table(t.pk), objects_of(t.pk)) for t in (acme, initech)}
    assert all(count > 0 for count in rows_by_table(globex.pk).values())

    out = run(
        "--tenant", "globex", "--confirm-tenant", "globex", "--scope", "all", "--execute", "--inline", "--batch", "2"
    )
    assert "succeeded" in out and "progress:" in out

    left = rows_by_table(globex.pk)
    [purge_job] = Job.objects.unscoped().filter(tenant=globex, job_type=PURGE_JOB)
    assert purge_job.status == "succeeded"
    # What stays is the purge's own record: its job, its attempt, its checkpoints, its audit row.
    assert left.pop("jobs_job") == 1 and left.pop("jobs_jobattempt") == 1 and left.pop("jobs_checkpoint") >= 1
    assert left.pop("tenants_auditentry") == 1
    assert set(left.values()) == {0}
    assert objects_of(globex.pk) == []
    [entry] = AuditEntry.objects.unscoped().filter(tenant=globex)
    assert entry.action == "tenant.purged" and entry.data["objects"] == 2 and entry.data["bytes"] == 200
    assert entry.data["deleted"]["jobs_job"] == 2 and entry.actor.startswith("cli:")
    assert {t: (rows_by_table(t), objects_of(t)) for t in others} == others


def test_a_scoped_purge_leaves_the_other_scopes(three: tuple[Tenant, Tenant, Tenant]) -> None:
    _, globex, _ = three
    before = rows_by_table(globex.pk)
    run("--tenant", "globex", "--confirm-tenant", "globex", "--scope", "webhooks,emails", "--execute", "--inline")
    after = rows_by_table(globex.pk)
    assert after["webhooks_webhookdelivery"] == after["webhooks_webhookendpoint"] == after["emails_emaildelivery"] == 0
    assert after["uploads_document"] == before["uploads_document"] and len(objects_of(globex.pk)) == 2
    assert after["outbox_outboxevent"] == before["outbox_outboxevent"]


def test_a_purge_rerun_from_a_checkpoint_resumes_where_it_stopped(three: tuple[Tenant, Tenant, Tenant]) -> None:
    _, globex, _ = three
    saved: list[dict[str, Any]] = []

    class Killed(Exception):
        pass

    def save_then_die(state: dict[str, Any]) -> None:
        saved.append({"done": list(state["done"]), "deleted": dict(state["deleted"]), **{
            k: state[k] for k in ("objects", "bytes")
        }})  # fmt: skip
        if len(saved) == 4:
            raise Killed

    with pytest.raises(Killed):
        purge.purge_step(tenant_id=globex.pk, scopes=purge.all_scopes(), state={}, batch=1, save=save_then_die)
    checkpoint = saved[-1]
    assert 0 < len(checkpoint["done"]) < len(purge.purge_tables(purge.all_scopes()))
    final = purge.purge_step(tenant_id=globex.pk, scopes=purge.all_scopes(), state=checkpoint, batch=1)
    assert set(rows_by_table(globex.pk).values()) == {0}
    assert final["deleted"]["jobs_job"] == 2 and final["objects"] == 2


def test_a_worker_killed_mid_purge_is_resumed_by_the_next_from_its_checkpoint(
    three: tuple[Tenant, Tenant, Tenant], processes: Processes, storage_root: Path
) -> None:
    acme, globex, _ = three
    with tenant_scope(globex.pk):
        enqueue(tenant=globex.pk, job_type="diagnostics.echo", payload={"value": "many"})
    with connections[SYSTEM].cursor() as cursor:  # enough rows that one-row batches take a few seconds
        cursor.execute(
            "INSERT INTO emails_emaildelivery (tenant_id, message_id, from_email, recipients, subject, body, "
            "payload_hash, status, attempts, last_error, provider_message_id, created_at, updated_at) "
            "SELECT %s, 'm' || g, 'a@x', '[]', '', '', 'p', 'sent', 1, '', '', now(), now() "
            "FROM generate_series(1, 1000) g",
            [globex.pk],
        )
    acme_before = rows_by_table(acme.pk)
    job_id = purge.start_purge(tenant=globex, scopes=purge.all_scopes(), mode="delete", batch=5, actor="test")
    env = {"UPLOADS_BACKEND": "local", "UPLOADS_LOCAL_ROOT": str(storage_root)}
    first = processes.worker("maintenance", name="first", settings=env)

    def progressed() -> bool:
        state = job_progress(job_id).checkpoint or {}
        return int(state.get("deleted", {}).get("emails_emaildelivery", 0)) > 100

    wait_for(progressed, timeout=60, what="the purge to get under way")
    processes.kill(first)
    at_kill = job_progress(job_id)
    assert at_kill.status == "running" and "emails_emaildelivery" not in at_kill.checkpoint["done"]  # type: ignore[index]
    processes.scheduler(settings=env)  # rescues the lost lease and wakes the queue
    processes.worker("maintenance", name="second", settings=env)
    wait_for(lambda: job_progress(job_id).status == "succeeded", timeout=60, what="the resumed purge")

    attempts = JobAttempt.objects.unscoped().filter(job_id=job_id).order_by("attempt")
    assert [a.outcome for a in attempts] == ["lost", "succeeded"]
    left = rows_by_table(globex.pk)
    assert left["emails_emaildelivery"] == 0 and left["jobs_job"] == 1 and left["tenants_auditentry"] == 1
    assert objects_of(globex.pk) == []
    final = job_progress(job_id).checkpoint
    # The first worker's count kept, exactly: each batch commits with its checkpoint.
    assert final is not None and final["deleted"]["emails_emaildelivery"] == 1001
    acme_after = rows_by_table(acme.pk)  # the scheduler's periodic work and the relay may add rows, never remove
    assert all(acme_after[table] >= count for table, count in acme_before.items())


def test_the_scheduler_wakes_a_suspended_tenants_maintenance_queue_and_nothing_else_of_it(
    three: tuple[Tenant, Tenant, Tenant],
) -> None:
    from ballast.jobs.scheduler.dispatch import due_pairs

    acme, globex, _ = three
    purge.start_purge(tenant=globex, scopes=["emails"], mode="delete", batch=10, actor="test")
    pairs = set(due_pairs())
    assert ("maintenance", globex.pk) in pairs  # the purge can run
    assert ("default", globex.pk) not in pairs  # its other work waits, as before
    assert ("default", acme.pk) in pairs


def test_a_production_purge_without_the_owner_dsn_changes_nothing_and_says_why_in_one_line(
    three: tuple[Tenant, Tenant, Tenant],
) -> None:
    from config.tests.processes import manage, prod_env

    _, globex, _ = three
    before = rows_by_table(globex.pk)

    result = manage(
        "tenant_purge", "--tenant", "globex", "--confirm-tenant", "globex", "--scope", "jobs,audit", "--execute",
        "--inline", env=prod_env(),
    )  # fmt: skip

    assert result.returncode == 1, result.stdout + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "CommandError: the audit scope (the audit log is append-only for the runtime roles) needs the schema owner's "
        "connection (POSTGRES_OWNER_DSN): run it as scripts/with-owner.sh .venv/bin/python manage.py tenant_purge "
        "--tenant globex --confirm-tenant globex --scope jobs,audit --mode delete --execute --inline"
    ]
    assert rows_by_table(globex.pk) == before
    assert Job.objects.unscoped().filter(job_type=PURGE_JOB).count() == 0
