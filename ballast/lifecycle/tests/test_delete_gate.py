"""The gate: a DELETE on a high-volume table outside the bounded-batch helpers fails the suite."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from ballast.lib.partitioned_tables import tables
from ballast.lifecycle.delete_gate import (
    ALLOWED,
    HIGH_VOLUME_TABLES,
    KNOWN_CASCADES,
    allowed,
    cascades_into_high_volume,
    check_source,
    violations,
)

ROOT = Path(settings.BASE_DIR)


def test_no_code_deletes_from_a_high_volume_table_outside_the_bounded_helpers() -> None:
    found = violations(ROOT)
    assert found == [], "Unbounded DELETE paths (use ballast.lib.batched_delete or drop partitions):\n" + "\n".join(
        map(str, found)
    )


def test_every_allow_list_entry_still_matches_a_delete_so_the_list_cannot_rot() -> None:
    for (path, function), reason in ALLOWED.items():
        source = (ROOT / path).read_text()
        hits = check_source(source, path=path)
        assert any(function in ("*", hit.function) for hit in hits), f"{path}:{function} ({reason}) deletes nothing"


def test_the_checker_catches_a_planted_sql_delete(tmp_path: Path) -> None:
    planted = tmp_path / "cleanup.py"
    planted.write_text(
        'def prune(cursor):\n    cursor.execute("delete  from jobs_jobattempt where finished_at < now()")\n'
    )
    found = violations(tmp_path, files=[planted])
    assert [(v.path, v.line, v.function, v.table, v.how) for v in found] == [
        ("cleanup.py", 2, "prune", "jobs_jobattempt", "sql")
    ]


def test_the_checker_catches_a_delete_whose_table_is_named_at_run_time() -> None:
    source = 'def purge(cursor, table):\n    cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [1])\n'
    assert [(v.function, v.table) for v in check_source(source, path="p.py")] == [("purge", "<dynamic>")]


def test_the_checker_catches_orm_deletes_direct_through_a_variable_and_through_queryset_delete() -> None:
    source = (
        "from django.db.models import QuerySet\n"
        "def a():\n    AuditEntry.objects.unscoped().filter(at__lt=cutoff).delete()\n"
        "def b():\n    old = WebhookDelivery.objects.filter(status='failed')\n    old.delete()\n"
        "def c(qs):\n    QuerySet.delete(EmailDelivery.objects.all())\n"
        "def d():\n    outbox.models.OutboxEvent.objects.all()._raw_delete('system')\n"
    )
    found = check_source(source, path="planted.py")
    assert [(v.function, v.table, v.how) for v in found] == [
        ("a", "tenants_auditentry", "orm"),
        ("b", "webhooks_webhookdelivery", "orm"),
        ("c", "emails_emaildelivery", "orm"),
        ("d", "outbox_outboxevent", "orm"),
    ]


def test_deletes_of_other_tables_and_of_storage_objects_pass() -> None:
    source = (
        "def a():\n    Pause.objects.filter(kind='queue').delete()\n    storage.delete(key)\n"
        '    cursor.execute("DELETE FROM ops_minuterollup WHERE minute < now()")\n'
        '    cursor.execute("DELETE FROM jobs_jobattempts_archive")\n'
    )
    assert check_source(source, path="fine.py") == []


def test_an_allow_listed_helper_passes_and_the_same_code_elsewhere_does_not() -> None:
    source = "def release(c):\n    IdempotencyRecord.objects.filter(pk=c.id).delete()\n"
    [hit] = check_source(source, path="ballast/api/idempotency.py")
    assert allowed(hit)
    [moved] = check_source(source, path="ballast/api/views.py")
    assert not allowed(moved)


def test_the_gate_covers_every_high_volume_table_of_the_issue() -> None:
    assert set(HIGH_VOLUME_TABLES) >= {
        "jobs_job",
        "jobs_jobattempt",
        "jobs_checkpoint",
        "tenants_auditentry",
        "outbox_idempotencyrecord",
        "outbox_outboxevent",
        "webhooks_webhookdelivery",
        "emails_emaildelivery",
    }


def test_the_gate_covers_every_partitioned_table_of_the_registry() -> None:
    assert set(HIGH_VOLUME_TABLES) >= {table.table for table in tables()}


def test_every_cascade_into_a_high_volume_table_is_known_with_its_reason() -> None:
    """A new on_delete=CASCADE into a high-volume table is an unbounded DELETE path too: list it, or batch it."""
    assert cascades_into_high_volume() == set(KNOWN_CASCADES)
