"""Bulk operations (created by ops 0004 as ops_bulkoperation) are this app's model; no table changes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0009_attempt_error_class"),
        ("ops", "0004_bulk"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="BulkOperation",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("action", models.CharField(max_length=16)),
                        ("filter", models.JSONField(default=dict)),
                        ("matched", models.JSONField(default=list)),
                        ("count", models.PositiveIntegerField(default=0)),
                        (
                            "status",
                            models.CharField(
                                choices=[("previewed", "Previewed"), ("running", "Running"), ("done", "Done")],
                                default="previewed",
                                max_length=16,
                            ),
                        ),
                        ("processed", models.PositiveIntegerField(default=0)),
                        ("changed", models.PositiveIntegerField(default=0)),
                        ("skipped", models.PositiveIntegerField(default=0)),
                        ("created_by", models.CharField(max_length=200)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("confirmed_by", models.CharField(blank=True, default="", max_length=200)),
                        ("confirmed_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "ops_bulkoperation", "default_permissions": ("view",)},
                ),
            ]
        ),
    ]
