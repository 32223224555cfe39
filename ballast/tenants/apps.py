from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TenantsConfig(AppConfig):
    name = "ballast.tenants"
    label = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ballast.lib import declarations, telemetry
        from ballast.lib import logging as log_fields
        from ballast.tenants import checks  # noqa: F401  (registers the system checks)
        from ballast.tenants.context import current_tenant_id
        from ballast.tenants.db_roles import on_post_migrate

        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="tenants.grant_runtime_privileges")
        # Every installed app's declarations: partitioned tables, audit actions, job types, preflight checks.
        declarations.load()
        # Log lines carry the tenant of the current tenant_scope; traces are exported when OTEL_* ask for it.
        log_fields.add_source("tenant_id", current_tenant_id)
        telemetry.configure()
