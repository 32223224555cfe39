"""Cleanup as jobs: abandoned intents, orphaned objects, the trash past retention; one job per tenant at a time."""

from __future__ import annotations

import io
import os
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.db import connections
from django.db.models import F
from django.utils import timezone
from rest_framework.test import APIClient

from ballast.jobs import policy
from ballast.jobs.models import Job, JobAttempt
from ballast.jobs.scheduler import periodic as maintenance
from ballast.jobs.worker.run import run_now
from ballast.outbox.models import OutboxEvent
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import AuditEntry, Tenant
from ballast.uploads import cleanup, keys, services
from ballast.uploads.models import CleanupRun, Document, UploadIntent
from ballast.uploads.scheduling import CLEANUP_INTENTS, PURGE_TRASH, schedule_cleanup
from ballast.uploads.storage import get_storage
from ballast.uploads.storage.base import Readable
from ballast.uploads.tests.conftest import declare, pdf_bytes, stored_keys


def put(key: str, data: bytes) -> None:
    stream: Readable = io.BytesIO(data)
    get_storage().write(key=key, stream=stream, size=len(data), content_type="application/pdf")


def relayed(client: APIClient, data: bytes) -> dict[str, Any]:
    created: dict[str, Any] = declare(client, data, mode="relay").json()
    assert client.put(created["relay"]["url"], data=data, content_type="application/pdf").status_code == 200
    return created


def run(job: Job) -> Job:
    run_now(job.pk)
    return Job.objects.unscoped().get(pk=job.pk)


def test_abandoned_intents_lose_their_objects_and_orphans_go_while_live_uploads_stay(
    tenant: Tenant, member: APIClient, settings: Any
) -> None:
    settings.UPLOAD_CLEANUP_GRACE_SECONDS = 3600
    abandoned = relayed(member, pdf_bytes(3000))
    in_grace = relayed(member, pdf_bytes(2000))
    live = relayed(member, pdf_bytes(1000))
    UploadIntent.objects.unscoped().filter(pk=abandoned["id"]).update(expires_at=timezone.now() - timedelta(hours=2))
    UploadIntent.objects.unscoped().filter(pk=in_grace["id"]).update(expires_at=timezone.now() - timedelta(minutes=5))
    orphan = keys.tmp_key(tenant.pk, uuid.uuid4())
    put(orphan, pdf_bytes(700))

    job = run(schedule_cleanup(tenant_id=tenant.pk))

    assert job.status == "succeeded", job.last_error
    statuses = dict(UploadIntent.objects.unscoped().values_list("id", "status"))
    assert statuses == {abandoned["id"]: "cleaned", in_grace["id"]: "uploaded", live["id"]: "uploaded"}
    remaining = set(stored_keys())
    intents = {row.pk: row.storage_key for row in UploadIntent.objects.unscoped().all()}
    assert remaining == {intents[in_grace["id"]], intents[live["id"]]}
    record = CleanupRun.objects.unscoped().get(job_id=job.pk)
    assert (record.kind, record.trigger, record.dry_run) == ("intents", "job", False)
    assert (record.intents_cleaned, record.orphans_deleted, record.objects_deleted) == (1, 1, 2)
    assert record.bytes_freed == 3700 and record.errors == []
    assert job.result is not None and job.result["cleanup_run"] == record.pk
    actions = set(AuditEntry.objects.unscoped().filter(actor=f"job:{job.pk}").values_list("action", flat=True))
    assert actions == {"upload.cleaned", "upload.orphan_deleted"}


def test_a_finalized_uploads_leftover_tmp_copy_is_an_orphan(tenant: Tenant, member: APIClient) -> None:
    created = relayed(member, pdf_bytes(1500))
    member.post(f"/api/v1/uploads/{created['id']}/finalize")
    intent = UploadIntent.objects.unscoped().get(pk=created["id"])
    put(intent.storage_key, pdf_bytes(1500))  # as if deleting the tmp/ copy after commit had failed

    with tenant_scope(tenant.pk):
        record = cleanup.clean_intents(tenant_id=tenant.pk)

    assert record.orphans_deleted == 1 and record.trigger == "command"
    assert stored_keys() == [intent.docs_key]


def test_a_dry_run_counts_and_deletes_nothing(tenant: Tenant, member: APIClient) -> None:
    relayed(member, pdf_bytes(1200))
    UploadIntent.objects.unscoped().update(expires_at=F("expires_at") - timedelta(days=1))
    put(keys.tmp_key(tenant.pk, uuid.uuid4()), pdf_bytes(300))
    out = io.StringIO()

    call_command("uploads_cleanup", "--tenant", "acme", "--dry-run", stdout=out)

    assert "1 intents cleaned, 1 orphans" in out.getvalue() and "would free 1500 bytes" in out.getvalue()
    assert out.getvalue().startswith("tenant acme intents:")  # named by slug, not by id
    assert len(stored_keys()) == 2
    assert UploadIntent.objects.unscoped().get().status == "uploaded"
    assert set(CleanupRun.objects.unscoped().values_list("kind", "dry_run")) == {("intents", True), ("trash", True)}


def test_trash_past_retention_is_purged_by_its_job(tenant: Tenant, member: APIClient, local_storage: Path) -> None:
    created = relayed(member, pdf_bytes(2500))
    document_id = member.post(f"/api/v1/uploads/{created['id']}/finalize").json()["document"]["id"]
    recent_id = member.post(f"/api/v1/uploads/{relayed(member, pdf_bytes(900))['id']}/finalize").json()["document"][
        "id"
    ]
    member.delete(f"/api/v1/documents/{document_id}")
    member.delete(f"/api/v1/documents/{recent_id}")
    Document.objects.unscoped().filter(pk=document_id).update(trashed_at=timezone.now() - timedelta(days=31))

    job = run(schedule_cleanup(tenant_id=tenant.pk, job_type=PURGE_TRASH))

    assert job.status == "succeeded", job.last_error
    old, recent = Document.objects.unscoped().get(pk=document_id), Document.objects.unscoped().get(pk=recent_id)
    assert (old.status, recent.status) == ("purged", "trashed")
    assert not (local_storage / old.storage_key).exists() and old.object_deleted_at is not None
    assert (local_storage / recent.storage_key).exists()
    assert OutboxEvent.objects.unscoped().filter(event_type="document.purged", target_id=str(document_id)).exists()
    record = CleanupRun.objects.unscoped().get(job_id=job.pk)
    assert (record.documents_purged, record.bytes_freed) == (1, 2500)


def test_the_hourly_task_enqueues_for_every_tenant_and_sweeps_stale_partial_writes(
    tenant: Tenant, other_tenant: Tenant, local_storage: Path
) -> None:
    partial = local_storage / ".partial"
    partial.mkdir()
    (partial / "stale").write_bytes(b"x" * 10)
    (partial / "in-flight").write_bytes(b"y" * 10)
    os.utime(partial / "stale", (time.time() - 2 * 86400, time.time() - 2 * 86400))

    maintenance._tasks["uploads.cleanup"].func()

    assert sorted(path.name for path in partial.iterdir()) == ["in-flight"]
    jobs = Job.objects.unscoped().values_list("tenant_id", "job_type")
    assert sorted(jobs) == sorted((t.pk, j) for t in (tenant, other_tenant) for j in (CLEANUP_INTENTS, PURGE_TRASH))


def test_the_cleanup_job_runs_first_in_the_maintenance_queue_hourly_and_on_demand(tenant: Tenant) -> None:
    out = io.StringIO()

    call_command("uploads_cleanup", "--tenant", "acme", stdout=out)
    call_command("uploads_cleanup", "--tenant", "acme", stdout=out)

    jobs = list(Job.objects.unscoped().order_by("id"))
    assert [job.job_type for job in jobs] == [CLEANUP_INTENTS, "uploads.purge_trash"]
    assert {job.queue for job in jobs} == {"maintenance"}
    assert {job.priority for job in jobs} == {max(queue.default_priority for queue in policy.QUEUES.values())}
    assert out.getvalue().count("enqueued") == 2 and out.getvalue().count("already there") == 2
    assert all(line.startswith("tenant acme ") for line in out.getvalue().splitlines())
    assert maintenance._tasks["uploads.cleanup"].every == timedelta(hours=1)


def test_enqueueing_again_brings_a_job_backing_off_forward(tenant: Tenant, redis: Any) -> None:
    job = schedule_cleanup(tenant_id=tenant.pk)
    Job.objects.unscoped().filter(pk=job.pk).update(
        available_at=timezone.now() + timedelta(hours=3), attempts=2, last_error="storage down"
    )

    again = schedule_cleanup(tenant_id=tenant.pk)

    assert again.pk == job.pk and not again.created
    assert again.status == "queued" and again.attempts == 2
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT available_at <= now() FROM jobs_job WHERE id = %s", [job.pk])
        assert cursor.fetchone() == (True,)
    assert Job.objects.unscoped().count() == 1
    assert AuditEntry.objects.unscoped().filter(action="job.brought_forward", target_id=str(job.pk)).exists()
    assert run(again).status == "succeeded"


def test_enqueueing_again_takes_back_a_job_running_past_its_lease(tenant: Tenant, redis: Any) -> None:
    job = schedule_cleanup(tenant_id=tenant.pk)
    Job.objects.unscoped().filter(pk=job.pk).update(
        status="running",
        attempts=3,
        max_attempts=3,
        lease_token=uuid.uuid4(),
        locked_by="worker-that-died",
        locked_at=timezone.now() - timedelta(minutes=10),
        lease_expires_at=timezone.now() - timedelta(minutes=9),
    )

    again = schedule_cleanup(tenant_id=tenant.pk)

    assert again.pk == job.pk and again.status == "queued"
    assert again.lease_token is None and again.max_attempts == 4
    attempt = JobAttempt.objects.unscoped().get(job_id=job.pk)
    assert (attempt.outcome, attempt.attempt, attempt.worker) == ("lost", 3, "worker-that-died")
    assert AuditEntry.objects.unscoped().filter(action="job.taken_back").count() == 1
    assert run(again).status == "succeeded"
    # Finished: the next call makes a fresh job.
    assert schedule_cleanup(tenant_id=tenant.pk).pk != job.pk


def test_a_job_running_within_its_lease_is_left_alone(tenant: Tenant, redis: Any) -> None:
    job = schedule_cleanup(tenant_id=tenant.pk)
    token = uuid.uuid4()
    Job.objects.unscoped().filter(pk=job.pk).update(
        status="running", attempts=1, lease_token=token, lease_expires_at=timezone.now() + timedelta(minutes=1)
    )

    again = schedule_cleanup(tenant_id=tenant.pk)

    assert again.pk == job.pk and again.status == "running" and again.lease_token == token


def test_concurrent_enqueues_never_stack_two_jobs(tenant: Tenant, redis: Any) -> None:
    barrier = threading.Barrier(4)
    made: list[int] = []

    def enqueue() -> None:
        barrier.wait()
        try:
            made.append(schedule_cleanup(tenant_id=tenant.pk).pk)
        finally:
            for connection in connections.all():
                connection.close()

    threads = [threading.Thread(target=enqueue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(made) == 4 and len(set(made)) == 1
    assert Job.objects.unscoped().count() == 1


def test_a_purge_whose_object_deletion_failed_is_retried(
    tenant: Tenant, member: APIClient, local_storage: Path
) -> None:
    created = relayed(member, pdf_bytes(800))
    document_id = member.post(f"/api/v1/uploads/{created['id']}/finalize").json()["document"]["id"]
    document = Document.objects.unscoped().get(pk=document_id)
    with tenant_scope(tenant.pk):
        Document.objects.filter(pk=document_id).update(status="purged", purged_at=timezone.now() - timedelta(hours=1))

    with tenant_scope(tenant.pk):
        record = cleanup.purge_trash(tenant_id=tenant.pk)

    assert record.objects_deleted == 1 and record.bytes_freed == 800
    assert not (local_storage / document.storage_key).exists()
    assert Document.objects.unscoped().get(pk=document_id).object_deleted_at is not None
    assert services.delete_purged_object(tenant.pk, document_id, document.storage_key) is None
