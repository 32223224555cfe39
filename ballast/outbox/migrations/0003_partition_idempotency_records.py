"""HTTP idempotency records become a daily range-partitioned table (retention drops whole days: lifecycle).

A `day` column (the UTC day of created_at) is the partition key; the unique key per credential becomes
(tenant, token, key, day), since a unique key on a partitioned table must hold the partition column. A key stays
unique across days through api.idempotency (an advisory lock on the key, then an insert only when no live record
of it exists). Rows are copied (the table holds a day or two of keys). The way back keeps one record per key
(the live one, else the latest), rebuilds the plain table under the same names and drops `day`.
"""

from django.conf import settings
from django.db import migrations, models

import ballast.outbox.models
from ballast.outbox.partitioned_tables import IDEMPOTENCY_RECORDS
from ballast.lib.partitioning import TableShape, partition_existing

TABLE = "outbox_idempotencyrecord"

SHAPE = TableShape(
    spec=IDEMPOTENCY_RECORDS,
    indexes=(
        ("idempotency_expires", "expires_at"),
        ("outbox_idempotencyrecord_tenant_id_f16dda3b", "tenant_id"),
    ),
    foreign_keys=(("outbox_idempotencyre_tenant_id_f16dda3b_fk_tenants_t", "tenant_id", "tenants_tenant(id)"),),
    unique=(("idempotency_unique_key_per_credential", "tenant_id, token_id, key, day"),),
)

# Forced row-level security hides every row from the owner: lifted while the owner fills the column.
ADD_DAY = f"""
ALTER TABLE {TABLE} ADD COLUMN day date DEFAULT ((now() AT TIME ZONE 'UTC')::date);
ALTER TABLE {TABLE} NO FORCE ROW LEVEL SECURITY;
UPDATE {TABLE} SET day = (created_at AT TIME ZONE 'UTC')::date;
ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY;
ALTER TABLE {TABLE} ALTER COLUMN day SET NOT NULL;
"""
DROP_DAY = f"ALTER TABLE {TABLE} DROP COLUMN day"


def create_days_ahead(apps, schema_editor):
    IDEMPOTENCY_RECORDS.ensure(ahead=settings.IDEMPOTENCY_PARTITIONS_AHEAD, using=schema_editor.connection.alias)


def keep_one_record_per_key(apps, schema_editor):
    """The plain table's unique key has no day: of each key's records keep the one that expires last."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} NO FORCE ROW LEVEL SECURITY")
        cursor.execute(
            "DELETE FROM outbox_idempotencyrecord r USING outbox_idempotencyrecord newer "
            "WHERE newer.tenant_id = r.tenant_id AND newer.token_id = r.token_id AND newer.key = r.key "
            "AND (newer.expires_at, newer.id) > (r.expires_at, r.id)"
        )
        cursor.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0002_relay_takes_turns_across_tenants"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD_DAY, reverse_sql=DROP_DAY)],
            state_operations=[
                migrations.AddField(
                    model_name="idempotencyrecord",
                    name="day",
                    field=models.DateField(default=ballast.outbox.models.utc_today),
                ),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(*partition_existing(SHAPE))],
            state_operations=[
                migrations.RemoveConstraint(model_name="idempotencyrecord", name="idempotency_unique_key_per_credential"),
                migrations.AddConstraint(
                    model_name="idempotencyrecord",
                    constraint=models.UniqueConstraint(
                        fields=("tenant", "token_id", "key", "day"), name="idempotency_unique_key_per_credential"
                    ),
                ),
            ],
        ),
        migrations.RunPython(create_days_ahead, keep_one_record_per_key),
    ]
