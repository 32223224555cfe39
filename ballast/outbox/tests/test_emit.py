"""Events are written with the change they describe, once, as CloudEvents, under row-level security."""

from __future__ import annotations

import time
import uuid
from datetime import date

import pytest
from django.db import DatabaseError, connections, transaction

from ballast.jobs.services import cancel_job, enqueue
from ballast.jobs.worker.run import run_now
from ballast.lib import partitioning
from ballast.lib.tracing import TraceContext, trace_context
from ballast.outbox import partitioned_tables as partitions
from ballast.outbox.envelope import to_cloudevent
from ballast.outbox.services import NOTIFY_CHANNEL, NewEvent, OutsideTransaction, emit, insert_from_cte_sql
from ballast.outbox.tests.helpers import emit_in_transaction, events
from ballast.tenants.context import tenant_scope
from ballast.tenants.db_roles import dedicated_connection
from ballast.tenants.models import Tenant


def test_a_rolled_back_transaction_leaves_no_event(tenant: Tenant) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(tenant_id=tenant.pk, event_type="order.placed", target_type="order", target_id=1)
        raise RuntimeError("the business change failed")

    assert events() == []


def test_emit_refuses_to_run_outside_a_transaction(tenant: Tenant) -> None:
    with pytest.raises(OutsideTransaction):
        emit(tenant_id=tenant.pk, event_type="order.placed", target_type="order", target_id=1)


def test_emitting_twice_with_one_event_id_stores_one_event(tenant: Tenant) -> None:
    event_id = uuid.uuid4()
    first = emit_in_transaction(
        tenant_id=tenant.pk, event_type="order.placed", target_type="order", target_id=1, event_id=event_id
    )
    second = emit_in_transaction(
        tenant_id=tenant.pk, event_type="order.placed", target_type="order", target_id=1, event_id=event_id
    )

    assert first.pk == second.pk
    assert len(events(event_id=event_id)) == 1


def test_the_envelope_is_cloudevents_json(tenant: Tenant) -> None:
    with trace_context(TraceContext(correlation_id="corr-1", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")):
        event = emit_in_transaction(
            tenant_id=tenant.pk,
            event_type="order.placed",
            target_type="order",
            target_id=42,
            payload={"total": 10},
            actor="user:ann",
            causation_id="cause-1",
        )

    body = to_cloudevent(event)

    assert body["specversion"] == "1.0" and body["type"] == "order.placed"
    assert body["id"] == str(event.event_id) and body["subject"] == "order/42"
    assert body["source"] == f"/ballast/tenants/{tenant.pk}" and body["tenantid"] == str(tenant.pk)
    assert body["data"] == {"total": 10} and body["time"].endswith("Z")
    assert (body["correlationid"], body["causationid"]) == ("corr-1", "cause-1")
    assert body["traceparent"].startswith("00-" + "a" * 32)


def test_a_jobs_life_emits_its_events_with_causation(tenant: Tenant) -> None:
    with transaction.atomic():
        ok = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
        flaky = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "x"}, max_attempts=2)
        doomed = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "x"}, max_attempts=1)
        dropped = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2})
    cancel_job(job=dropped)
    for job in (ok, flaky, doomed):
        run_now(job.pk)

    def types_of(job_id: int) -> list[str]:
        return [event.event_type for event in events(target_type="job", target_id=str(job_id))]

    assert types_of(ok.pk) == ["job.created", "job.succeeded"]
    assert types_of(flaky.pk) == ["job.created", "job.retry_scheduled"]
    assert types_of(doomed.pk) == ["job.created", "job.dead_lettered"]
    assert types_of(dropped.pk) == ["job.created", "job.cancelled"]
    created, succeeded = events(target_id=str(ok.pk))
    assert created.event_id == ok.created_event_id
    assert succeeded.causation_id == str(created.event_id)
    assert succeeded.correlation_id == created.correlation_id == ok.correlation_id != ""


def test_events_are_partitioned_by_month_under_forced_rls(tenant: Tenant) -> None:
    emit_in_transaction(tenant_id=tenant.pk, event_type="order.placed", target_type="order", target_id=1)
    table = partitions.partition_name(partitions.month_start(date.today()))

    with connections["default"].cursor() as cursor:  # the app role, no tenant: the parent shows no rows
        cursor.execute("SELECT count(*) FROM outbox_outboxevent")
        app_rows = cursor.fetchone()[0]
    # ... and the app role may not name a partition at all (it has rights on the parent only: tenants/db_roles.py)
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connections["default"].cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
    with connections["system"].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        system_rows = cursor.fetchone()[0]
        cursor.execute(
            "SELECT c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
            "WHERE c.relname = 'outbox_outboxevent' OR c.relname = %s ORDER BY c.relname",
            [table],
        )
        tables = cursor.fetchall()

    assert (app_rows, system_rows) == (0, 1)
    assert tables == [("outbox_outboxevent", "p", True, True), (table, "r", True, True)]


def test_partitions_are_created_ahead_and_dropped_whole(committed: None) -> None:
    # Months long past, so that the drop below cannot touch the partitions in use.
    created = partitions.ensure_partitions(months_ahead=2, today=date(2019, 11, 17))
    again = partitions.ensure_partitions(months_ahead=2, today=date(2019, 11, 17))

    assert created == ["outbox_outboxevent_p201911", "outbox_outboxevent_p201912", "outbox_outboxevent_p202001"]
    assert again == []
    assert _drop_before(date(2020, 1, 1)) == ["outbox_outboxevent_p201911", "outbox_outboxevent_p201912"]
    assert "outbox_outboxevent_p202001" in partitions.existing_partitions()
    assert _drop_before(date(2020, 2, 1)) == ["outbox_outboxevent_p202001"]
    assert partitions.partition_name(partitions.month_start(date.today())) in partitions.existing_partitions()


def test_another_layer_inserts_one_event_per_row_of_its_own_cte_without_naming_outbox_columns(
    tenant: Tenant,
) -> None:
    template = NewEvent(
        tenant_id=tenant.pk, event_type="order.placed", target_type="order", target_id="", payload={"via": "bulk"}
    )
    insert, params = insert_from_cte_sql(
        template,
        cte="orders",
        expressions={"event_id": "gen_random_uuid()", "target_id": "n::text", "payload": "jsonb_build_object('n', n)"},
    )

    with tenant_scope(tenant.pk), connections["default"].cursor() as cursor:
        cursor.execute(
            f"WITH orders AS (SELECT generate_series(1, 3) AS n), event AS ({insert}) SELECT pg_notify(%s, '')",
            [*params, NOTIFY_CHANNEL],
        )

    placed = events(event_type="order.placed")
    assert [(e.target_id, e.payload) for e in placed] == [(str(n), {"n": n, "via": "bulk"}) for n in (1, 2, 3)]
    assert len({e.event_id for e in placed}) == 3 and {e.status for e in placed} == {"pending"}
    with pytest.raises(ValueError, match="Not columns"):
        insert_from_cte_sql(template, cte="orders", expressions={"colour": "'red'"})


def test_partition_ddl_behind_a_long_transaction_gives_up_instead_of_queueing(
    committed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitioning, "DDL_LOCK_TIMEOUT", "100ms")
    reader = dedicated_connection("system", "a-long-report")
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM outbox_outboxevent")  # holds ACCESS SHARE on the parent

        started = time.monotonic()
        with pytest.raises(partitions.PartitionLockTimeout):
            partitions.ensure_partitions(months_ahead=0, today=date(2018, 3, 1))

        assert time.monotonic() - started < 10  # bounded retries, never an open-ended wait in the lock queue
        assert "outbox_outboxevent_p201803" not in partitions.existing_partitions()  # nothing half-made
    finally:
        reader.close()


def _drop_before(cutoff: date) -> list[str]:
    """Drop the partitions that end by `cutoff` (retention's own path, lifecycle.retention, keeps a month that
    holds a pending event; these months hold none)."""
    expired = partitions.OUTBOX.expired(cutoff)
    for partition in expired:
        partitions.OUTBOX.drop(partition)
    return [partition.name for partition in expired]
