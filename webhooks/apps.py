from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from outbox.sinks import register_sink
        from webhooks.services import fan_out_event

        register_sink("webhooks", fan_out_event)
