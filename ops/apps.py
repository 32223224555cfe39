from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ops import idempotency_stats

        idempotency_stats.install()  # count each keyed API request's outcome
