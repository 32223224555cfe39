"""The consoles in the Django admin, through Django's test client (the browser tests drive them in Chromium)."""

from __future__ import annotations

import re
import socket
import uuid
from datetime import date
from typing import Any

from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from ballast.jobs import sql
from ballast.jobs.models import Job, Pause
from ballast.jobs.states import JobStatus as S
from ballast.jobs.tests.conftest import processes  # noqa: F401  (fixture)
from ballast.jobs.worker.processing import process_due_jobs
from ballast.ops.tests.conftest import ConsoleData
from ballast.tenants.models import OperatorAction

QUEUE = "/admin/ops/queue/"
UPLOADS = "/admin/ops/uploads/"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_non_staff_user_is_sent_to_the_login_page(outsider: User) -> None:
    for url in (QUEUE, UPLOADS):
        response = logged_in(outsider).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_staff_without_the_view_permission_is_refused(committed: None) -> None:
    from ballast.ops.tests.conftest import staff

    assert logged_in(staff("plain-staff")).get(QUEUE).status_code == 403


def test_the_admin_index_lists_both_consoles(reader: User) -> None:
    page = logged_in(reader).get("/admin/").content.decode()
    assert "Ops: queue" in page and "Ops: uploads" in page
    assert 'href="/admin/ops/queue/"' in page


def test_the_queue_console_shows_health_types_tenants_dead_letters_and_alerts(reader: User, data: ConsoleData) -> None:
    with connections["system"].cursor() as cursor:
        cursor.execute(sql.ACQUIRE_LEADERSHIP, {"holder": "host-a:123", "token": uuid.uuid4(), "lease": 30})
    response = logged_in(reader).get(QUEUE)
    page = response.content.decode()
    assert response.status_code == 200
    assert "host-a:123" in page
    assert 'data-queue="default"><td>default</td><td class="num due">4</td>' in page
    assert 'data-type="diagnostics.echo"' in page
    assert f'data-tenant="{data.tenant.slug}"' in page  # tenant hints
    assert f'data-dead-letter="{data.dead_letter.pk}"' in page
    assert "Oldest due job is 10 min old" in page
    # Read-only: no controls.
    assert "Run now" not in page and "Replay selected" not in page and "Acknowledge" not in page


def test_the_queue_page_leads_to_each_types_jobs_and_each_dead_letters_job(reader: User, data: ConsoleData) -> None:
    client = logged_in(reader)
    filtered = client.get(QUEUE, {"tenant": data.tenant.slug}).content.decode()
    assert f'href="/admin/ops/jobs/?job_type=diagnostics.echo&amp;tenant={data.tenant.slug}"' in filtered
    assert f'href="/admin/ops/jobs/?job={data.dead_letter.job_id}"' in client.get(QUEUE).content.decode()


def test_the_tenant_filter_narrows_every_count(reader: User, data: ConsoleData) -> None:
    page = logged_in(reader).get(QUEUE, {"tenant": data.other.slug}).content.decode()
    assert 'data-queue="default"><td>default</td><td class="num due">1</td>' in page


def test_a_reader_is_refused_on_post_and_nothing_changes(reader: User, data: ConsoleData) -> None:
    response = logged_in(reader).post(QUEUE, {"action": "pause", "kind": "type", "target": "diagnostics.echo"})
    assert response.status_code == 403
    assert not Pause.objects.using("system").exists()
    response = logged_in(reader).post(UPLOADS, {"action": "cleanup_now", "tenant": data.tenant.slug})
    assert response.status_code == 403
    assert not OperatorAction.objects.using("system").exists()


def test_an_operator_runs_a_type_now_for_one_tenant(operator: User, data: ConsoleData) -> None:
    client = logged_in(operator)
    page = client.get(QUEUE).content.decode()
    assert "Run now" in page
    response = client.post(
        QUEUE, {"action": "run_now", "job_type": "diagnostics.echo", "tenant": data.tenant.slug, "max_jobs": "10"}
    )
    assert response.status_code == 302
    assert Job.objects.unscoped().filter(tenant=data.tenant, status=S.SUCCEEDED).count() == 3
    page = client.get(response["Location"]).content.decode()
    assert "diagnostics.echo: 3 processed, 3 succeeded" in page.lower()


def test_an_operator_pauses_and_resumes_a_type(operator: User, data: ConsoleData) -> None:
    client = logged_in(operator)
    client.post(QUEUE, {"action": "pause", "kind": "type", "target": "diagnostics.echo"})
    page = client.get(QUEUE).content.decode()
    assert 'data-type="diagnostics.echo"' in page and 'value="resume"' in page
    client.post(QUEUE, {"action": "resume", "kind": "type", "target": "diagnostics.echo"})
    assert not Pause.objects.using("system").exists()


def test_bad_input_is_a_400_with_the_reason(operator: User, data: ConsoleData) -> None:
    client = logged_in(operator)
    response = client.post(QUEUE, {"action": "run_now", "job_type": "no.such.type"})
    assert response.status_code == 400
    assert "Unknown job type" in response.content.decode()
    assert client.post(QUEUE, {"action": "run_now", "job_type": "diagnostics.echo", "max_jobs": "x"}).status_code == 400
    assert client.post(QUEUE, {"action": "explode"}).status_code == 400


def test_an_operator_replays_a_dead_letter_from_the_console(operator: User, data: ConsoleData) -> None:
    response = logged_in(operator).post(QUEUE, {"action": "replay", "dead_letter": [str(data.dead_letter.pk)]})
    assert response.status_code == 302
    assert Job.objects.unscoped().get(pk=data.dead_letter.job_id).status == S.QUEUED


def test_the_uploads_console_shows_intents_storage_and_a_cleanup_run_now_result(
    operator: User, data: ConsoleData
) -> None:
    client = logged_in(operator)
    page = client.get(UPLOADS).content.decode()
    assert f'data-tenant="{data.tenant.slug}" data-status="pending"' in page
    assert "Stuck intents (past expiry and grace, not cleaned): <b>1</b>" in page
    assert "Enqueue and run now" in page
    response = client.post(UPLOADS, {"action": "cleanup_now", "tenant": data.tenant.slug})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "ran: succeeded" in page.lower()
    assert '<td class="num intents-cleaned">1</td>' in page


def test_a_worker_whose_heartbeat_stopped_is_flagged_with_the_leases_it_left(reader: User, data: ConsoleData) -> None:
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job SET status = 'running', locked_by = 'gone-host:4242', lease_token = gen_random_uuid(), "
            "locked_at = now(), lease_expires_at = now() - interval '1 minute' WHERE id = %s",
            [data.due[0].pk],
        )
    page = logged_in(reader).get(QUEUE).content.decode()
    assert 'data-worker="gone-host:4242" class="ops-bad"' in page
    assert "heartbeat stopped" in page
    assert f"job {data.due[0].pk} diagnostics.echo (acme) until" in page and ", expired" in page


def test_a_running_rq_worker_is_listed_with_its_queues_and_counted_per_queue(
    reader: User,
    data: ConsoleData,
    processes: Any,  # noqa: F811
) -> None:
    from ballast.jobs.tests.processes import wait_for
    from ballast.ops import selectors

    worker = processes.worker("email", name="worker")
    wait_for(lambda: selectors.workers_by_queue()[0]["email"] == 1, timeout=60, what="the worker registers")
    page = logged_in(reader).get(QUEUE).content.decode()
    assert f'<tr data-worker="{socket.gethostname()}:{worker.pid}" data-worker-name=' in page
    assert '<td class="num workers">1</td>' in page


JOBS = "/admin/ops/jobs/"


def test_the_jobs_browser_filters_by_tenant_type_status_and_payload_text(reader: User, data: ConsoleData) -> None:
    client = logged_in(reader)
    page = client.get(JOBS, {"tenant": data.tenant.slug, "job_type": "diagnostics.echo", "status": "queued"})
    listed = page.content.decode()
    assert all(f'data-job="{job.pk}"' in listed for job in data.due[:3])
    assert f'data-job="{data.due[3].pk}"' not in listed  # the other tenant's
    listed = client.get(JOBS, {"payload": '"value": 9'}).content.decode()
    assert f'data-job="{data.due[3].pk}"' in listed and f'data-job="{data.due[0].pk}"' not in listed
    listed = client.get(JOBS, {"error": "boom"}).content.decode()
    assert f'data-job="{data.dead_letter.job_id}"' in listed and f'data-job="{data.due[0].pk}"' not in listed
    assert client.get(JOBS, {"since": "yesterday"}).status_code == 400


def test_a_job_page_shows_its_attempts_and_its_event_chain(operator: User, data: ConsoleData) -> None:
    client = logged_in(operator)
    page = client.get(JOBS, {"job": data.dead_letter.job_id}).content.decode()
    assert "RuntimeError: boom" in page
    assert 'data-event-type="job.created"' in page and 'data-event-type="job.dead_lettered"' in page
    response = client.post(JOBS, {"action": "retry", "job_id": str(data.dead_letter.job_id)})
    assert response.status_code == 302
    assert Job.objects.unscoped().get(pk=data.dead_letter.job_id).status == S.QUEUED
    assert client.get(JOBS, {"job": "999999"}).status_code == 400


def controls(page: str) -> list[str]:
    form = re.search(r'<form method="post" id="job-controls">(.*?)</form>', page, re.S)
    return re.findall(r'name="action" value="(\w+)"', form.group(1)) if form else []


def test_a_failed_jobs_page_shows_each_traceback_and_only_the_controls_its_state_allows(
    operator: User, data: ConsoleData
) -> None:
    client = logged_in(operator)
    job_id = data.dead_letter.job_id
    failed = client.get(JOBS, {"job": job_id}).content.decode()
    assert "Traceback (most recent call last)" in failed and 'class="traceback"' in failed
    assert controls(failed) == ["retry", "discard"]  # no Cancel: a failed job cannot be cancelled
    assert controls(client.get(JOBS, {"job": data.due[0].pk}).content.decode()) == ["cancel", "discard"]
    assert client.get(QUEUE).context["snapshot"].dead_letters_24h == 1

    client.post(JOBS, {"action": "retry", "job_id": str(job_id)})
    process_due_jobs(max_jobs=1, budget_ms=5000, job_type="diagnostics.fail")

    retried = client.get(JOBS, {"job": job_id}).content.decode()
    job = Job.objects.unscoped().get(pk=job_id)
    assert job.attempts == 2 and f"<td>{job.attempts} of {job.max_attempts}</td>" in retried
    assert re.findall(r"<tr><td>(\d+)</td><td>(?:failed|succeeded)", retried) == ["1", "2"]
    assert 'data-event-type="job.retried"' in retried
    assert client.get(QUEUE).context["snapshot"].dead_letters_24h == 0


def test_a_bulk_retry_of_a_filter_touches_every_match_at_preview_time_in_batches_by_a_job(
    operator: User, data: ConsoleData
) -> None:
    from ballast.jobs.models import BulkOperation, Checkpoint
    from ballast.jobs.services import enqueue
    from ballast.jobs.worker.processing import process_due_jobs

    def fail_one() -> Job:
        job = enqueue(tenant=data.tenant, job_type="diagnostics.fail", payload={"message": "boom"}, max_attempts=1)
        process_due_jobs(max_jobs=1, budget_ms=5000, job_type="diagnostics.fail")
        return job

    for _ in range(2):
        fail_one()
    client = logged_in(operator)
    listed = client.get(JOBS, {"status": "failed"}).content.decode()
    assert 'value="bulk_preview"' in listed
    response = client.post(JOBS, {"action": "bulk_preview", "bulk_action": "retry", "status": "failed"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    operation = BulkOperation.objects.using("system").get()
    assert operation.count == 3 and operation.filter == {"status": "failed"}
    assert "<b>3</b> job(s) matched" in page and "Confirm: retry 3 job(s)" in page
    assert '<p id="bulk-filter">Filter: status is failed</p>' in page
    matched = [job_id for _, job_id in operation.matched]
    assert re.findall(r'<tr data-job="(\d+)"><td><a href="\?job=(\d+)">', page) == [(str(i), str(i)) for i in matched]
    late = fail_one()  # fails after the preview: not touched
    assert client.post(JOBS, {"action": "bulk_confirm", "bulk_id": str(operation.pk)}).status_code == 302
    assert process_due_jobs(max_jobs=10, budget_ms=10_000, job_type="ops.bulk").succeeded == 2  # one per tenant
    operation.refresh_from_db(using="system")
    assert (operation.status, operation.processed, operation.changed, operation.skipped) == ("done", 3, 3, 0)
    assert Job.objects.unscoped().filter(job_type="diagnostics.fail", status=S.QUEUED).count() == 3
    assert Job.objects.unscoped().get(pk=late.pk).status == S.FAILED
    assert Checkpoint.objects.unscoped().filter(job__job_type="ops.bulk").count() == 2
    confirm = OperatorAction.objects.using("system").get(action="ops.bulk.confirm")
    assert confirm.data["count"] == 3 and confirm.data["filter"] == {"status": "failed"}
    page = client.get(JOBS, {"bulk": operation.pk}).content.decode()
    assert "Processed 3 of 3: 3 changed, 0 skipped" in page
    assert re.findall(r'<a href="\?job=(\d+)">', page) == [str(i) for i in matched]
    assert re.findall(r'<td class="status">(\w+)</td>', page) == ["queued"] * 3  # as they are now
    assert client.post(JOBS, {"action": "bulk_confirm", "bulk_id": str(operation.pk)}).status_code == 400


def test_a_bulk_preview_names_its_filter_in_words_and_lists_the_first_fifty_matches(
    operator: User, data: ConsoleData
) -> None:
    from ballast.jobs.models import BulkOperation
    from ballast.jobs.services import enqueue

    ids = [enqueue(tenant=data.tenant, job_type="diagnostics.echo", payload={"value": index}).pk for index in range(52)]
    client = logged_in(operator)
    response = client.post(
        JOBS,
        {
            "action": "bulk_preview",
            "bulk_action": "cancel",
            "status": "queued",
            "job_type": "diagnostics.echo",
            "tenant": data.tenant.slug,
            "payload": "value",
        },
    )
    page = client.get(response["Location"]).content.decode()

    operation = BulkOperation.objects.using("system").get()
    assert operation.count == 55  # the 52 and the 3 seeded for this tenant
    words = f"status is queued, type is diagnostics.echo, tenant {data.tenant.slug}, payload contains “value”"
    assert f'<p id="bulk-filter">Filter: {words}</p>' in page
    assert "{" not in page.split('id="bulk-filter"')[1].split("</p>")[0]
    listed = [int(i) for i in re.findall(r'<tr data-job="\d+"><td><a href="\?job=(\d+)">', page)]
    assert len(listed) == 50 and listed == sorted(job_id for _, job_id in operation.matched)[:50]
    assert set(ids[:47]) <= set(listed)
    assert "(the first 50; 5 more)" in page


def test_the_queue_console_shows_partition_health_and_each_finding(reader: User, data: ConsoleData) -> None:
    healthy = re.search(r"<p>Healthy: ([^<]*) partitions\.</p>", logged_in(reader).get(QUEUE).content.decode())
    assert healthy and "jobs_jobattempt" in healthy[1] and "outbox_outboxevent" in healthy[1]

    from ballast.lib.partitioned_tables import by_table

    by_table("jobs_jobattempt").spec.ensure(ahead=0, today=date(2018, 6, 1))
    try:
        with connections["owner"].cursor() as cursor:
            cursor.execute("ALTER TABLE jobs_jobattempt_p201806 NO FORCE ROW LEVEL SECURITY")
        page = logged_in(reader).get(QUEUE).content.decode()
    finally:
        with connections["owner"].cursor() as cursor:
            cursor.execute("DROP TABLE jobs_jobattempt_p201806")

    assert 'data-finding="rls_not_forced"' in page and "jobs_jobattempt_p201806" in page
