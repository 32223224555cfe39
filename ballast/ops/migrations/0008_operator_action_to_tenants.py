"""The operator's audit log belongs to ballast.tenants (its table stays); the consoles' permissions move to the
queue console's entry, keeping every grant."""

from typing import Any

from django.db import migrations

CODENAMES = ["view_console", "operate_queue", "operate_uploads"]


def _move_permissions(apps: Any, source: str, target: str) -> None:
    content_types = apps.get_model("contenttypes", "ContentType")
    permissions = apps.get_model("auth", "Permission")
    into, _ = content_types.objects.get_or_create(app_label="ops", model=target)
    permissions.objects.filter(
        content_type__app_label="ops", content_type__model=source, codename__in=CODENAMES
    ).update(content_type=into)


def forwards(apps: Any, schema_editor: Any) -> None:
    _move_permissions(apps, "operatoraction", "queue")


def backwards(apps: Any, schema_editor: Any) -> None:
    _move_permissions(apps, "queue", "operatoraction")


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0007_type_backlog"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="OperatorAction")]),
        migrations.AlterModelOptions(
            name="queue",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("view_console", "Can view the operator consoles"),
                    ("operate_queue", "Can act on jobs and queues from the console"),
                    ("operate_uploads", "Can run upload cleanups from the console"),
                ],
                "verbose_name": "Ops: queue",
                "verbose_name_plural": "Ops: queue",
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
