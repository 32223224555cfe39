import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _refuse_unsafe_production_start() -> None:
    """gunicorn runs no system checks: the web process checks what it would serve with itself."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    from ballast.tenants.db_roles import assert_safe_runtime_roles
    from ballast.tenants.db_router import MIGRATION_ALIAS

    if settings.APP_ENV != "prod":
        return
    if MIGRATION_ALIAS in settings.DATABASES:
        raise ImproperlyConfigured(
            "Refusing to start with APP_ENV=prod: the web process has POSTGRES_OWNER_DSN; only migrate and the "
            "scheduler may hold the schema owner's credentials"
        )
    assert_safe_runtime_roles()
    connections.close_all()


_refuse_unsafe_production_start()
