from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "ballast.lifecycle"
    label = "lifecycle"
    default_auto_field = "django.db.models.BigAutoField"
