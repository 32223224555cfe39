"""Attempts and checkpoints become monthly range-partitioned tables (retention drops whole months: lifecycle).

The rows are copied, so this suits a new or small deployment; a large live table is converted first with
`manage.py partition_convert` (shadow table, resumable backfill, verify, swap). The way back rebuilds the plain
tables under the same names."""

from django.db import migrations, models

from ballast.lib.partitioning import RangePartitioned, TableShape, partition_existing

ATTEMPTS = TableShape(
    spec=RangePartitioned("jobs_jobattempt", "started_at", "month"),
    indexes=(
        ("attempt_finished", "finished_at"),
        ("attempt_tenant_job", "tenant_id, job_id, attempt"),
        ("jobs_jobattempt_job_id_05797094", "job_id"),
        ("jobs_jobattempt_tenant_id_7952936b", "tenant_id"),
    ),
    foreign_keys=(("jobs_jobattempt_tenant_id_7952936b_fk_tenants_tenant_id", "tenant_id", "tenants_tenant(id)"),),
)
CHECKPOINTS = TableShape(
    spec=RangePartitioned("jobs_checkpoint", "created_at", "month"),
    indexes=(
        ("jobs_checkpoint_job_id_9d445e9a", "job_id"),
        ("jobs_checkpoint_tenant_id_c6bc2d83", "tenant_id"),
    ),
    foreign_keys=(
        ("jobs_checkpoint_job_id_9d445e9a_fk_jobs_job_id", "job_id", "jobs_job(id)"),
        ("jobs_checkpoint_tenant_id_c6bc2d83_fk_tenants_tenant_id", "tenant_id", "tenants_tenant(id)"),
    ),
    # A unique key must hold the partition column; one writer per job (the lease fences checkpoints) keeps
    # sequences unique per job all the same.
    unique=(("checkpoint_unique_sequence", "tenant_id, job_id, sequence, created_at"),),
)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_pauses_and_attempt_finished"),
    ]

    operations = [
        migrations.RunPython(*partition_existing(ATTEMPTS)),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(*partition_existing(CHECKPOINTS))],
            state_operations=[
                migrations.RemoveConstraint(model_name="checkpoint", name="checkpoint_unique_sequence"),
                migrations.AddConstraint(
                    model_name="checkpoint",
                    constraint=models.UniqueConstraint(
                        fields=("tenant", "job", "sequence", "created_at"), name="checkpoint_unique_sequence"
                    ),
                ),
            ],
        ),
    ]
