"""Jobs become a monthly range-partitioned table on `retention_at` (retention drops a month once all of its jobs
have finished: lifecycle). Foreign keys into jobs_job go (a partitioned table's only keys hold the partition
column), and so does the unique index on the idempotency key: enqueue keeps keys unique under an advisory lock.

The rows are copied, so this suits a new or small deployment; a large live table is converted first with
`manage.py partition_convert`. The way back rebuilds the plain table, its unique key and the foreign keys."""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models

from ballast.lib.partitioning import RangePartitioned, TableShape, partition_existing

JOBS = TableShape(
    spec=RangePartitioned("jobs_job", "retention_at", "month"), indexes=(), foreign_keys=(), from_catalogue=True
)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_partition_attempts_and_checkpoints"),
        ("tenants", "0004_partition_audit"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="job", name="job_unique_idempotency_key_per_tenant"),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("idempotency_key__isnull", False)),
                fields=["tenant", "idempotency_key"],
                name="job_tenant_key",
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="retention_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
        ),
        # Existing jobs count from their enqueue, not from this migration. (Forced row-level security would show
        # the owner no rows.)
        migrations.RunSQL(
            [
                "ALTER TABLE jobs_job NO FORCE ROW LEVEL SECURITY",
                "UPDATE jobs_job SET retention_at = created_at",
                "ALTER TABLE jobs_job FORCE ROW LEVEL SECURITY",
            ],
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="checkpoint",
            name="job",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="checkpoints",
                to="jobs.job",
            ),
        ),
        migrations.AlterField(
            model_name="deadletter",
            name="job",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="dead_letters",
                to="jobs.job",
            ),
        ),
        migrations.RunPython(*partition_existing(JOBS)),
    ]
