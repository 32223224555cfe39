from importlib import import_module

from django.apps import AppConfig
from django.conf import settings


class JobsConfig(AppConfig):
    name = "ballast.jobs"
    label = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process runs the jobs app: its pools reconnect steadily after an outage, not after a doubling wait.
        from ballast.lib.db_pool import retry_connections_steadily

        retry_connections_steadily()
        # Every app's job_handlers.py is loaded with the other declarations (ballast.lib.declarations); these
        # are job types declared elsewhere (JOBS_HANDLER_MODULES).
        for module in settings.JOBS_HANDLER_MODULES:
            import_module(module)
        # Code subscribers' hand-off: one job per subscriber and relayed event.
        from ballast.jobs.subscriber_jobs import enqueue_subscriber_jobs
        from ballast.outbox.sinks import register_sink

        register_sink("jobs.subscribers", enqueue_subscriber_jobs)
