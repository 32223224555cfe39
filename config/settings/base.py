"""Core Django settings, 12-factor through django-environ."""

from __future__ import annotations

from typing import Any

from ballast.lib.logging import logging_config
from config.settings.env import APP_ENV, BASE_DIR, IS_PROD, env, local_default

__all__ = [
    "ALLOWED_HOSTS",
    "APP_ENV",
    "AUTH_PASSWORD_VALIDATORS",
    "BASE_DIR",
    "CACHES",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASES",
    "DATABASE_ROUTERS",
    "DEBUG",
    "DEFAULT_AUTO_FIELD",
    "INSTALLED_APPS",
    "LANGUAGE_CODE",
    "LOGGING",
    "LOG_FORMAT",
    "MIDDLEWARE",
    "ROOT_URLCONF",
    "SECRET_KEY",
    "STATIC_ROOT",
    "STATIC_URL",
    "STORAGES",
    "TEMPLATES",
    "TIME_ZONE",
    "USE_I18N",
    "USE_TZ",
    "WSGI_APPLICATION",
]

SECRET_KEY: str = env.str("SECRET_KEY", default=local_default("dev-insecure-secret-key-not-for-production"))
DEBUG: bool = env.bool("DEBUG", default=APP_ENV == "dev")
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=local_default(["localhost", "127.0.0.1", "testserver"]))
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]  # Ballast's apps follow (config/settings/__init__.py), as docs/install.md adds them to a project.

# django-prometheus first and last: HTTP request counts and latencies by view, method and status (/metrics).
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "ballast.api.content_security.ContentSecurityPolicyMiddleware",
    "ballast.api.correlation.CorrelationMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ballast.api.login_throttle.AdminLoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

if IS_PROD:
    # gunicorn serves the collected static files itself (runserver does it in dev).
    MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(var: str, default: str) -> dict[str, Any]:
    config: dict[str, Any] = env.db_url(var, default=local_default(default))
    config["ENGINE"] = "django.db.backends.postgresql"
    # psycopg 3's pool; a connection goes back to the pool after each request or job. With health checks on,
    # Django gives the pool `check=ConnectionPool.check_connection`: every connection taken from the pool is
    # probed first (one empty query), and one that died with a Postgres restart or failover is replaced before
    # it serves a request or a job. max_lifetime recycles connections (e.g. onto a new primary).
    config["CONN_MAX_AGE"] = 0
    config["CONN_HEALTH_CHECKS"] = True
    # The DSN's query options stay (libpq's, e.g. target_session_attrs=read-write with several hosts: django-environ
    # gives HOST and PORT as comma lists, which psycopg hands to libpq).
    config["OPTIONS"] = {
        **config.get("OPTIONS", {}),
        "pool": {
            "min_size": env.int("POSTGRES_POOL_MIN", default=1),
            "max_size": env.int("POSTGRES_POOL_MAX", default=10),
            # How long a process waits for a connection (e.g. while Postgres restarts) before the error.
            "timeout": env.float("POSTGRES_POOL_TIMEOUT", default=10.0),
            "max_lifetime": env.float("POSTGRES_POOL_MAX_LIFETIME", default=1800.0),
        },
    }
    return config


_local_pg = f"127.0.0.1:{env.str('BALLAST_PG_PORT', default='5432')}/ballast"

# default: the app role (requests, tenant jobs; row-level security applies).
# system: BYPASSRLS, for code that must cross tenants and says so (and Django's auth, sessions and admin log).
# owner: owns the schema. Configured only in processes given POSTGRES_OWNER_DSN: `manage.py migrate` and the
# scheduler (partition maintenance), through scripts/with-owner.sh; the Procfile strips it from web and worker.
# ci reads it from var/owner.env: the test suite creates its databases as the owner.
DATABASES = {
    "default": _database("POSTGRES_DSN", f"postgres://ballast_app:ballast_app@{_local_pg}"),
    "system": _database("POSTGRES_SYSTEM_DSN", f"postgres://ballast_system:ballast_system@{_local_pg}"),
}
if env.str("POSTGRES_OWNER_DSN", default="") or APP_ENV == "ci":
    DATABASES["owner"] = _database("POSTGRES_OWNER_DSN", f"postgres://ballast_owner:ballast_owner@{_local_pg}")
DATABASE_ROUTERS = ["ballast.tenants.db_router.DatabaseRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PROD
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Django's cache is per process memory: nothing Ballast shares goes through it (its Redis backend pickles values,
# and Redis is data, never code: the API throttle counts in Redis itself, api/throttling.py).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# JSON lines in production, readable lines in dev and ci (docs/observability.md#logs lists the fields).
LOG_FORMAT: str = env.str("LOG_FORMAT", default="json" if IS_PROD else "text")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
