"""Operator actions: checked against the ops permissions, executed in one transaction with one audit row."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from ballast.jobs import pauses
from ballast.jobs.models import DeadLetter, Job, Pause
from ballast.jobs.services import enqueue
from ballast.jobs.states import JobStatus as S
from ballast.jobs.worker.processing import process_due_jobs
from ballast.jobs.worker.run import run_pair
from ballast.ops import actions
from ballast.ops.models import Alert
from ballast.ops.tests.conftest import ConsoleData
from ballast.tenants.models import AuditEntry, OperatorAction, Tenant
from ballast.uploads.models import CleanupRun, UploadIntent


def audited(name: str) -> OperatorAction:
    return OperatorAction.objects.using("system").get(action=name)


def test_a_reader_may_not_act_and_the_error_names_the_missing_permission(reader: User) -> None:
    action = actions.RetryJob(job_id=1)
    with pytest.raises(actions.ActionForbidden, match=r"ops\.operate_queue"):
        action.check(reader)
    with pytest.raises(actions.ActionForbidden):
        action.execute()
    assert not OperatorAction.objects.using("system").exists()


def test_a_non_staff_user_may_not_act_even_with_the_permissions(outsider: User) -> None:
    with pytest.raises(actions.ActionForbidden, match="staff"):
        actions.PauseJobs(kind="type", target="diagnostics.echo").check(outsider)


def test_retrying_a_dead_letter_job_requeues_it_with_an_operator_row_and_a_tenant_audit_row(
    operator: User, data: ConsoleData
) -> None:
    action = actions.RetryJob(job_id=data.dead_letter.job_id)
    action.check(operator)
    action.execute()
    assert Job.objects.unscoped().get(pk=data.dead_letter.job_id).status == S.QUEUED
    row = audited("ops.job.retry")
    assert (row.actor, row.target_id, row.tenant_id) == ("user:operator", str(data.dead_letter.job_id), data.other.pk)
    assert len(row.trace_id) == 32
    assert AuditEntry.objects.unscoped().filter(action="job.retried", actor="user:operator").count() == 1


def test_retrying_a_queued_job_is_refused_and_writes_nothing(operator: User, data: ConsoleData) -> None:
    action = actions.RetryJob(job_id=data.due[0].pk)
    action.check(operator)
    with pytest.raises(actions.ActionRefused, match="Cannot retry"):
        action.execute()
    assert not OperatorAction.objects.using("system").exists()


def test_cancel_and_discard_stop_queued_jobs(operator: User, data: ConsoleData) -> None:
    for action in (actions.CancelJob(job_id=data.due[0].pk), actions.DiscardJob(job_id=data.due[1].pk)):
        action.check(operator)
        action.execute()
    statuses = set(
        Job.objects.unscoped().filter(pk__in=[data.due[0].pk, data.due[1].pk]).values_list("status", flat=True)
    )
    assert statuses == {S.CANCELLED}
    assert {row.action for row in OperatorAction.objects.using("system").all()} == {"ops.job.cancel", "ops.job.discard"}


def test_replaying_dead_letters_queues_their_jobs_once(operator: User, data: ConsoleData) -> None:
    action = actions.ReplayDeadLetters(dead_letter_ids=[data.dead_letter.pk])
    action.check(operator)
    assert action.execute().data["replayed"] == [data.dead_letter.pk]
    assert DeadLetter.objects.unscoped().get().status == DeadLetter.Status.REPLAYED
    again = actions.ReplayDeadLetters(dead_letter_ids=[data.dead_letter.pk])
    again.check(operator)
    with pytest.raises(actions.ActionRefused):
        again.execute()


def test_run_now_by_type_and_tenant_runs_only_that_tenants_jobs(operator: User, data: ConsoleData) -> None:
    action = actions.RunNow(job_type="diagnostics.echo", tenant=data.tenant.slug, max_jobs=10)
    action.check(operator)
    outcome = action.execute()
    assert outcome.data["succeeded"] == 3
    assert Job.objects.unscoped().get(pk=data.due[3].pk).status == S.QUEUED  # the other tenant's waits
    assert audited("ops.queue.run_now").tenant_id == data.tenant.pk


def test_run_now_of_an_unknown_type_is_refused(operator: User, committed: None) -> None:
    action = actions.RunNow(job_type="no.such.type")
    action.check(operator)
    with pytest.raises(actions.ActionRefused, match="Unknown job type"):
        action.execute()


def test_a_paused_type_is_not_claimed_by_workers_nor_run_now_and_runs_after_resume(
    operator: User, tenant: Tenant
) -> None:
    job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    pause = actions.PauseJobs(kind="type", target="diagnostics.echo", reason="investigating")
    pause.check(operator)
    pause.execute()
    assert pauses.current().types == {"diagnostics.echo"}
    assert run_pair("default", tenant.pk).claimed == 0
    assert process_due_jobs(max_jobs=5, budget_ms=2000).processed == 0
    assert Job.objects.unscoped().get(pk=job.pk).status == S.QUEUED
    resume = actions.ResumeJobs(kind="type", target="diagnostics.echo")
    resume.check(operator)
    resume.execute()
    assert run_pair("default", tenant.pk).claimed == 1
    assert Job.objects.unscoped().get(pk=job.pk).status == S.SUCCEEDED
    assert [row.action for row in OperatorAction.objects.using("system").order_by("id")] == [
        "ops.queue.pause",
        "ops.queue.resume",
    ]


def test_a_paused_queue_is_not_claimed_nor_dispatched(operator: User, tenant: Tenant) -> None:
    from ballast.jobs.scheduler.dispatch import dispatch_pass

    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    pause = actions.PauseJobs(kind="queue", target="default")
    pause.check(operator)
    pause.execute()
    assert dispatch_pass().due_pairs == 0
    assert run_pair("default", tenant.pk).claimed == 0
    assert process_due_jobs(max_jobs=5, budget_ms=2000).processed == 0


def test_pausing_twice_or_an_unknown_queue_is_refused(operator: User, committed: None) -> None:
    first = actions.PauseJobs(kind="queue", target="default")
    first.check(operator)
    first.execute()
    for action in (actions.PauseJobs(kind="queue", target="default"), actions.PauseJobs(kind="queue", target="nope")):
        action.check(operator)
        with pytest.raises(actions.ActionRefused):
            action.execute()
    assert Pause.objects.using("system").count() == 1


def test_enqueue_cleanup_and_run_now_cleans_the_abandoned_intent_and_records_a_run(
    operator: User, data: ConsoleData
) -> None:
    action = actions.EnqueueCleanup(tenant=data.tenant.slug, run_now=True)
    action.check(operator)
    outcome = action.execute()
    assert outcome.data["status"] == S.SUCCEEDED
    assert UploadIntent.objects.unscoped().get(pk=data.abandoned_intent.pk).status == UploadIntent.Status.CLEANED
    run = CleanupRun.objects.unscoped().get(tenant_id=data.tenant.pk)
    assert run.intents_cleaned == 1
    assert audited("ops.uploads.cleanup").data["job_id"] == outcome.data["job_id"]


def test_enqueuing_cleanup_twice_stacks_no_second_job(operator: User, data: ConsoleData) -> None:
    ids = []
    for _ in range(2):
        action = actions.EnqueueCleanup(tenant=data.tenant.slug)
        action.check(operator)
        ids.append(action.execute().data["job_id"])
    assert ids[0] == ids[1]


def test_cleanup_needs_the_uploads_permission(data: ConsoleData) -> None:
    from ballast.ops.tests.conftest import staff

    queue_only = staff("queue-only", "view_console", "operate_queue")
    with pytest.raises(actions.ActionForbidden, match=r"ops\.operate_uploads"):
        actions.EnqueueCleanup(tenant=data.tenant.slug).check(queue_only)


def test_an_alert_is_acknowledged_snoozed_and_resolved_each_step_audited(operator: User, data: ConsoleData) -> None:
    for action in (
        actions.AcknowledgeAlert(alert_id=data.alert.pk),
        actions.SnoozeAlert(alert_id=data.alert.pk, minutes=30),
        actions.ResolveAlert(alert_id=data.alert.pk),
    ):
        action.check(operator)
        action.execute()
    alert = Alert.objects.using("system").get()
    assert (alert.status, alert.acknowledged_by, alert.resolved_by) == ("resolved", "user:operator", "user:operator")
    assert alert.snoozed_until is not None
    assert OperatorAction.objects.using("system").filter(target_type="alert").count() == 3
    again = actions.AcknowledgeAlert(alert_id=data.alert.pk)
    again.check(operator)
    with pytest.raises(actions.ActionRefused, match="resolved"):
        again.execute()


def test_the_command_goes_through_the_same_checked_and_audited_action(
    operator: User, reader: User, data: ConsoleData
) -> None:
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("ops_action", "pause", "--as", "operator", "--kind", "queue", "--target", "email", stdout=out)
    assert "Paused the queue email" in out.getvalue()
    assert audited("ops.queue.pause").actor == "user:operator"
    with pytest.raises(CommandError, match=r"ops\.operate_queue"):
        call_command("ops_action", "resume", "--as", "reader", "--kind", "queue", "--target", "email")
    assert Pause.objects.using("system").filter(kind="queue", name="email").exists()
