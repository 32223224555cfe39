from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules


class TenantsConfig(AppConfig):
    name = "ballast.tenants"
    label = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ballast.tenants import checks  # noqa: F401  (registers the system checks)
        from ballast.tenants.db_roles import on_post_migrate

        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="tenants.grant_runtime_privileges")
        # Every app registers its audit action names in its own audit_actions.py (tenants.audit.record checks).
        autodiscover_modules("audit_actions")
