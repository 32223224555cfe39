from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "ballast.lifecycle"
    label = "lifecycle"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Partition upkeep and retention: periodic tasks of the scheduler's leader.
        from ballast.lifecycle import maintenance  # noqa: F401
