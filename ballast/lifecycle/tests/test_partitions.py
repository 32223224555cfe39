"""Partitioned high-volume tables: maintenance ahead, retention by DROP, and partition health's findings."""

from __future__ import annotations

import json
import time
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections, transaction

from ballast.jobs.services import enqueue
from ballast.lib import preflight
from ballast.lib.partitioned_tables import by_table, tables
from ballast.lifecycle.health import check_health
from ballast.lifecycle.maintenance import ensure_all_partitions
from ballast.lifecycle.retention import apply_retention
from ballast.lifecycle.tests.conftest import owner_sql
from ballast.tenants.models import Tenant
from ballast.webhooks.models import WebhookEndpoint

ATTEMPTS, CHECKPOINTS, AUDIT = by_table("jobs_jobattempt"), by_table("jobs_checkpoint"), by_table("tenants_auditentry")
OLD = date(2019, 1, 15)


def _partitions_check() -> preflight.Result:
    (check,) = [check for check in preflight.registered_checks() if check.name == "partitions"]
    return preflight.run(check)


def partition_names(table: str) -> set[str]:
    return set(by_table(table).spec.partition_names())


def test_every_partitioned_table_is_healthy_and_each_partition_has_forced_rls_and_the_parents_indexes(
    committed: None,
) -> None:
    report = check_health()

    assert report.healthy, report.findings
    assert set(report.tables) == {t.table for t in tables()}
    assert all(count >= 2 for count in report.tables.values())  # this period and the next, at least


def test_maintenance_creates_the_partitions_ahead_and_is_safe_to_run_twice(committed: None, settings) -> None:
    settings.LIFECYCLE_PARTITIONS_AHEAD = 5
    spec = AUDIT.spec
    furthest = spec.partition_name(spec.add_periods(spec.period_start(date.today()), 5))
    try:
        created = ensure_all_partitions()
        again = ensure_all_partitions()
        assert furthest in created and again == []
        assert furthest in partition_names("tenants_auditentry")
    finally:
        for table in tables():
            if table.table == "outbox_outboxevent":
                continue  # OUTBOX_PARTITIONS_AHEAD, not this setting
            for offset in (4, 5):
                name = table.spec.partition_name(table.spec.add_periods(table.spec.period_start(date.today()), offset))
                owner_sql(f"DROP TABLE IF EXISTS {name}")


def test_retention_drops_old_months_whole_and_keeps_a_checkpoint_of_an_unfinished_job(
    tenant: Tenant, planted: list[str]
) -> None:
    for table in (ATTEMPTS, CHECKPOINTS):
        table.spec.ensure(ahead=0, today=OLD)
        planted.append(f"DROP TABLE IF EXISTS {table.spec.partition_name(OLD.replace(day=1))}")
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})  # queued: unfinished
    with connections["system"].cursor() as cursor:  # BYPASSRLS: rows of any tenant, at any time
        cursor.execute(
            "INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, outcome, error, traceback) "
            "VALUES (%s, %s, 1, 'w', '2019-01-10', 'lost', '', '')",
            [tenant.pk, job.pk],
        )
        cursor.execute(
            "INSERT INTO jobs_checkpoint (tenant_id, job_id, sequence, attempt, state, created_at) "
            "VALUES (%s, %s, 1, 1, '{}', '2019-01-10')",
            [tenant.pk, job.pk],
        )
    old_attempts, old_checkpoints = ATTEMPTS.spec.partition_name(date(2019, 1, 1)), "jobs_checkpoint_p201901"

    preview = apply_retention(dry_run=True)
    assert partition_names("jobs_jobattempt") >= {old_attempts}  # a dry run changes nothing
    decisions = {d.partition: d for d in preview.decisions}
    assert (decisions[old_attempts].action, decisions[old_attempts].rows) == ("drop", 1)
    assert decisions[old_checkpoints].action == "keep: holds a checkpoint of an unfinished job"

    done = apply_retention()

    assert done.dropped == [old_attempts]
    assert old_attempts not in partition_names("jobs_jobattempt")
    assert old_checkpoints in partition_names("jobs_checkpoint")
    current = ATTEMPTS.spec.partition_name(date.today().replace(day=1))
    assert current in partition_names("jobs_jobattempt")  # the current month is never past retention


def test_partition_health_reports_each_planted_problem(committed: None, planted: list[str]) -> None:
    spec = ATTEMPTS.spec
    spec.ensure(ahead=0, today=date(2018, 6, 1))
    planted.append("DROP TABLE IF EXISTS jobs_jobattempt_p201806")
    owner_sql("ALTER TABLE jobs_jobattempt_p201806 NO FORCE ROW LEVEL SECURITY")
    owner_sql("CREATE INDEX planted_parent_only ON ONLY jobs_jobattempt (worker)")  # not built on any partition
    planted.append("DROP INDEX IF EXISTS planted_parent_only")
    Tenant.objects.using("system").create(slug="planted", name="Planted")
    owner_sql(  # as the system role: forced RLS applies to the owner too
        "INSERT INTO tenants_auditentry (tenant_id, actor, action, target_type, target_id, trace_id, data, at) "
        "SELECT id, 'x', 'x', 'x', 'x', '', '{}', '1990-01-01' FROM tenants_tenant WHERE slug = 'planted'",
        alias="system",
    )
    planted.append("TRUNCATE tenants_auditentry_default")
    # Bloat: many dead tuples in one partition.
    spec.ensure(ahead=0, today=date(2018, 7, 1))
    planted.append("DROP TABLE IF EXISTS jobs_jobattempt_p201807")
    owner_sql(
        "INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, outcome, error, "
        "traceback) SELECT t.id, g, 1, 'w', '2018-07-02', 'lost', '', '' FROM generate_series(1, 12000) g, "
        "(SELECT id FROM tenants_tenant WHERE slug = 'planted') t",
        "UPDATE jobs_jobattempt_p201807 SET worker = 'v'",
        "SELECT pg_stat_force_next_flush()",
        alias="system",
    )

    deadline = time.monotonic() + 10
    while True:
        kinds = {(f.kind, f.partition) for f in check_health(today=date(2031, 1, 15)).findings}
        if ("bloat", "jobs_jobattempt_p201807") in kinds or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert ("rls_not_forced", "jobs_jobattempt_p201806") in kinds
    assert ("missing_index", "jobs_jobattempt_p201806") in kinds
    assert ("past_retention", "jobs_jobattempt_p201806") in kinds
    assert ("rows_in_default", "tenants_auditentry_default") in kinds
    assert ("missing_partition", "tenants_auditentry_p203101") in kinds  # as seen from 2031
    assert ("bloat", "jobs_jobattempt_p201807") in kinds


def test_the_commands_print_json_and_partition_health_fails_on_a_finding(committed: None, planted: list[str]) -> None:
    out = StringIO()
    call_command("partition_health", "--json", stdout=out)
    assert json.loads(out.getvalue())["healthy"] is True
    out = StringIO()
    call_command("retention", "--dry-run", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"dry_run": True, "decisions": [], "refusals": []}

    AUDIT.spec.ensure(ahead=0, today=date(2017, 3, 1))
    planted.append("DROP TABLE IF EXISTS tenants_auditentry_p201703")
    with pytest.raises(SystemExit) as exited:
        call_command("partition_health", stdout=StringIO())
    assert exited.value.code == 1


def test_preflight_fails_when_next_periods_partition_is_missing_and_passes_once_maintenance_ran(
    committed: None,
) -> None:
    spec = AUDIT.spec
    following = spec.partition_name(spec.add_periods(spec.period_start(date.today()), 1))
    owner_sql(f"DROP TABLE {following}")
    try:
        failed = _partitions_check()
        assert not failed.ok and following in failed.detail
    finally:
        ensure_all_partitions()
    assert _partitions_check().ok


def test_a_partition_left_detached_by_an_interrupted_drop_is_dropped_by_the_next_run(
    committed: None, planted: list[str]
) -> None:
    AUDIT.spec.ensure(ahead=0, today=date(2016, 2, 1))
    planted.append("DROP TABLE IF EXISTS tenants_auditentry_p201602")
    owner_sql("ALTER TABLE tenants_auditentry DETACH PARTITION tenants_auditentry_p201602")  # then the process died

    assert apply_retention(dry_run=True).dropped == ["tenants_auditentry_p201602"]
    assert apply_retention().dropped == ["tenants_auditentry_p201602"]
    with connections["owner"].cursor() as cursor:
        cursor.execute("SELECT to_regclass('tenants_auditentry_p201602')")
        assert cursor.fetchone()[0] is None


def test_retention_keeps_a_month_of_deliveries_while_one_is_still_live_then_drops_it(
    tenant: Tenant, planted: list[str]
) -> None:
    webhooks, emails = by_table("webhooks_webhookdelivery"), by_table("emails_emaildelivery")
    for table in (webhooks, emails):
        table.spec.ensure(ahead=0, today=OLD)
        planted.append(f"DROP TABLE IF EXISTS {table.spec.partition_name(OLD.replace(day=1))}")
    old_webhooks, old_emails = "webhooks_webhookdelivery_p201901", "emails_emaildelivery_p201901"
    endpoint = WebhookEndpoint.objects.unscoped("system").create(tenant=tenant, url="https://example.com/h", secret="s")
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})  # queued: unfinished
    with connections["system"].cursor() as cursor:  # BYPASSRLS: rows of any tenant, at any time
        cursor.execute(  # a delivery of a January 2019 event, its next attempt still scheduled
            "INSERT INTO webhooks_webhookdelivery (tenant_id, endpoint_id, event_id, event_created_at, event_type, "
            "webhook_id, body, status, attempts, next_attempt_at, response_excerpt, last_error, created_at, "
            "updated_at) VALUES (%s, %s, 'e1', '2019-01-10', 'job.created', 'msg_e1', '{}', 'pending', 1, now(), "
            "'', '', now(), now()) RETURNING id",
            [tenant.pk, endpoint.pk],
        )
        webhook_delivery = cursor.fetchone()[0]
        cursor.execute(  # an email of January 2019 whose job will still try it
            "INSERT INTO emails_emaildelivery (tenant_id, message_id, from_email, recipients, subject, body, "
            "payload_hash, status, attempts, last_error, provider_message_id, job_id, created_at, updated_at) "
            "VALUES (%s, '<m@x>', 'a@x', '[]', '', '', 'p', 'unknown', 1, '', '', %s, '2019-01-10', now()) "
            "RETURNING id",
            [tenant.pk, job.pk],
        )
        email_delivery = cursor.fetchone()[0]

    kept = {d.partition: d.action for d in apply_retention().decisions}

    assert kept[old_webhooks] == "keep: holds a pending webhook delivery"
    assert kept[old_emails] == "keep: holds an email delivery whose job has not finished"
    assert {old_webhooks, old_emails} <= partition_names("webhooks_webhookdelivery") | partition_names(
        "emails_emaildelivery"
    )

    # The delivery succeeds; the email is sent.
    with connections["system"].cursor() as cursor:
        cursor.execute("UPDATE webhooks_webhookdelivery SET status = 'succeeded' WHERE id = %s", [webhook_delivery])
        cursor.execute("UPDATE emails_emaildelivery SET status = 'sent' WHERE id = %s", [email_delivery])

    done = apply_retention()

    assert sorted(done.dropped) == [old_emails, old_webhooks]
    assert old_webhooks not in partition_names("webhooks_webhookdelivery")
    assert old_emails not in partition_names("emails_emaildelivery")
