"""Bulk operations belong to ballast.jobs (jobs 0010); the table ops_bulkoperation stays as it is."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0008_operator_action_to_tenants"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="BulkOperation")]),
    ]
