from importlib import import_module

from django.apps import AppConfig
from django.conf import settings
from django.utils.module_loading import autodiscover_modules


class JobsConfig(AppConfig):
    name = "ballast.jobs"
    label = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process runs the jobs app: its pools reconnect steadily after an outage, not after a doubling wait.
        from ballast.lib.db_pool import retry_connections_steadily

        retry_connections_steadily()
        # Every app declares its job types (and periodic maintenance) in its own job_handlers.py.
        autodiscover_modules("job_handlers")
        # Job types declared outside an app's job_handlers.py (JOBS_HANDLER_MODULES).
        for module in settings.JOBS_HANDLER_MODULES:
            import_module(module)
        # The outbox's subscriber hand-off (an outbox sink), its delivery job and its maintenance.
        from ballast.jobs import outbox_wiring  # noqa: F401
