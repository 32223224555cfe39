from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "ballast.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ballast.outbox.sinks import register_sink
        from ballast.webhooks.services import fan_out_event

        register_sink("webhooks", fan_out_event)
