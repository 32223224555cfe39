"""The operator's audit log (created by ops 0001 as ops_operatoraction) is this app's model; no table changes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0005_tenant_in_audit_key"),
        ("ops", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OperatorAction",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("actor", models.CharField(max_length=200)),
                        ("action", models.CharField(max_length=100)),
                        ("target_type", models.CharField(max_length=100)),
                        ("target_id", models.CharField(max_length=200)),
                        ("tenant_id", models.BigIntegerField(blank=True, null=True)),
                        ("trace_id", models.CharField(max_length=64)),
                        ("data", models.JSONField(blank=True, default=dict)),
                        ("at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "ops_operatoraction",
                        "default_permissions": ("view",),
                        "indexes": [models.Index(fields=["at"], name="opsaction_at")],
                    },
                ),
            ]
        ),
    ]
