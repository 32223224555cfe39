from django.apps import AppConfig


class UploadsConfig(AppConfig):
    name = "ballast.uploads"
    label = "uploads"
    default_auto_field = "django.db.models.BigAutoField"
