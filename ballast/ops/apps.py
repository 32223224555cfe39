from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ballast.ops"
    label = "ops"
    verbose_name = "Ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ballast.ops import idempotency_stats

        idempotency_stats.install()  # count each keyed API request's outcome
