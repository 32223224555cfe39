"""The jobs API's cancel / retry / replay endpoints and `manage.py dlq_replay` call the jobs app's operations
(ballast.jobs.actions), as the console does: each writes the same operator log row. A tenant's credential sees and
acts only on its jobs of public types."""

from __future__ import annotations

import getpass
from io import StringIO

import pytest
from django.core.management import call_command

from ballast.jobs.models import DeadLetter, Job
from ballast.jobs.services import cancel_job, enqueue
from ballast.jobs.worker.run import run_now
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import AuditEntry, OperatorAction, Role, Tenant
from ballast.tenants.tests.conftest import client_for


def operator_rows() -> list[tuple[str, str, str, int | None]]:
    return list(
        OperatorAction.objects.using("system").order_by("id").values_list("action", "actor", "target_id", "tenant_id")
    )


def dead_letter_of(tenant: Tenant) -> DeadLetter:
    job = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "no"}, max_attempts=1)
    run_now(job.pk)
    return DeadLetter.objects.unscoped().get(job_id=job.pk)


def test_cancel_and_retry_through_the_api_write_the_operator_actions_with_the_tokens_user(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    client = client_for(make_token(tenant))  # user acme-member-0
    job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})

    assert client.post(f"/api/v1/jobs/{job.pk}/cancel").json()["status"] == "cancelled"
    assert client.post(f"/api/v1/jobs/{job.pk}/retry").json()["status"] == "queued"

    assert operator_rows() == [
        ("ops.job.cancel", "user:acme-member-0", str(job.pk), tenant.pk),
        ("ops.job.retry", "user:acme-member-0", str(job.pk), tenant.pk),
    ]
    tenant_audit = AuditEntry.objects.unscoped().filter(target_id=str(job.pk)).values_list("action", "actor")
    assert ("job.retried", "user:acme-member-0") in list(tenant_audit)


def test_replaying_a_dead_letter_through_the_api_writes_the_operator_action(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    letter = dead_letter_of(tenant)

    response = client_for(make_token(tenant)).post(f"/api/v1/dead-letters/{letter.pk}/replay")

    assert response.status_code == 200 and response.json()["id"] == letter.job_id
    assert operator_rows() == [("ops.dead_letters.replay", "user:acme-member-0", str(letter.pk), tenant.pk)]


def test_another_tenants_job_is_404_through_the_api_and_nothing_is_audited(
    tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker
) -> None:
    theirs = enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": 1})

    assert client_for(make_token(tenant)).post(f"/api/v1/jobs/{theirs.pk}/cancel").status_code == 404

    assert operator_rows() == []
    assert Job.objects.unscoped().get(pk=theirs.pk).status == "queued"


def test_dlq_replay_runs_the_operator_action_as_the_shell_user(tenant: Tenant) -> None:
    letter = dead_letter_of(tenant)
    out = StringIO()

    call_command("dlq_replay", "--tenant", "acme", "--all", "--confirm", stdout=out)

    actor = f"cli:{getpass.getuser()}:dlq_replay"
    assert f"replayed 1 dead letter(s) as {actor}" in out.getvalue()
    assert operator_rows() == [("ops.dead_letters.replay", actor, str(letter.pk), tenant.pk)]
    assert DeadLetter.objects.unscoped().get(pk=letter.pk).status == "replayed"


def test_a_viewer_token_may_not_retry_and_nothing_is_audited(tenant: Tenant, make_token: TokenMaker) -> None:
    letter = dead_letter_of(tenant)

    response = client_for(make_token(tenant, Role.VIEWER)).post(f"/api/v1/jobs/{letter.job_id}/retry")

    assert response.status_code == 403
    assert operator_rows() == []
    assert Job.objects.unscoped().get(pk=letter.job_id).status == "failed"


@pytest.mark.parametrize("job_type", ["ops.bulk", "uploads.cleanup_intents"])
def test_a_tenant_member_can_neither_see_nor_cancel_nor_retry_an_internal_job(
    tenant: Tenant, make_token: TokenMaker, job_type: str
) -> None:
    payload = {"bulk_id": 1} if job_type == "ops.bulk" else {}
    internal = enqueue(tenant=tenant, job_type=job_type, payload=payload, actor="user:operator")
    public = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    client = client_for(make_token(tenant))

    listed = [row["id"] for row in client.get("/api/v1/jobs").json()["results"]]
    by_type = client.get("/api/v1/jobs", {"job_type": job_type}).json()["results"]
    assert listed == [public.pk] and by_type == []
    assert client.get(f"/api/v1/jobs/{internal.pk}").status_code == 404
    assert client.post(f"/api/v1/jobs/{internal.pk}/cancel").status_code == 404
    assert Job.objects.unscoped().get(pk=internal.pk).status == "queued"

    with tenant_scope(tenant.pk):
        cancel_job(job=Job.objects.get(pk=internal.pk), actor="user:operator")
    assert client.post(f"/api/v1/jobs/{internal.pk}/retry").status_code == 404
    assert Job.objects.unscoped().get(pk=internal.pk).status == "cancelled"
    assert operator_rows() == []


def test_a_bulk_discard_closes_the_dead_letter_and_audits_under_the_jobs_trace_like_a_single_discard(
    tenant: Tenant,
) -> None:
    from ballast.jobs import actions
    from ballast.jobs.bulk import JobFilter
    from ballast.jobs.worker.processing import process_due_jobs

    one, many = dead_letter_of(tenant), dead_letter_of(tenant)
    operator = actions.Operator(actor="user:operator")

    actions.discard_job(by=operator, job_id=one.job_id)
    preview = actions.preview_bulk(by=operator, action="discard", where=JobFilter(tenant_id=tenant.pk, status="failed"))
    actions.confirm_bulk(by=operator, bulk_id=preview.data["bulk_id"])
    assert process_due_jobs(max_jobs=5, budget_ms=10_000, job_type="ops.bulk").succeeded == 1

    for letter in (one, many):
        job = Job.objects.unscoped().get(pk=letter.job_id)
        audit = AuditEntry.objects.unscoped().get(action="job.discarded", target_id=str(job.pk))
        assert (job.status, audit.trace_id) == ("failed", job.trace_id)
        assert DeadLetter.objects.unscoped().get(pk=letter.pk).status == "replayed"
    assert [row[0] for row in operator_rows()] == ["ops.job.discard", "ops.bulk.preview", "ops.bulk.confirm"]
