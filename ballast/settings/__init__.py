"""Ballast's settings, each read from the environment with its default (APP_ENV picks the defaults: dev, ci or
prod, and prod when unset). A project takes them all, then sets its own and overrides what it needs:

    from ballast.settings import *  # noqa: F403

See docs/install.md for what else a project sets (INSTALLED_APPS, DATABASES, the router, the middleware) and
docs/configuration.md for every variable."""

from ballast.settings.convert import *  # noqa: F403
from ballast.settings.drf import *  # noqa: F403
from ballast.settings.emails import *  # noqa: F403
from ballast.settings.environment import APP_ENV  # noqa: F401  (dev, ci or prod: what Ballast's checks apply)
from ballast.settings.hardening import *  # noqa: F403
from ballast.settings.jobs import *  # noqa: F403
from ballast.settings.lifecycle import *  # noqa: F403
from ballast.settings.ops import *  # noqa: F403
from ballast.settings.outbox import *  # noqa: F403
from ballast.settings.redis import *  # noqa: F403
from ballast.settings.rq import *  # noqa: F403
from ballast.settings.security import *  # noqa: F403
from ballast.settings.tasks import *  # noqa: F403
from ballast.settings.uploads import *  # noqa: F403
from ballast.settings.webhooks import *  # noqa: F403

# The apps, for a project's INSTALLED_APPS (after Django's own, rest_framework and drf_spectacular).
BALLAST_APPS = [
    "django_tasks",
    "ballast.tenants",
    "ballast.jobs",
    "django_rq",  # after ballast.jobs, whose rqworker command (with --concurrency) wraps django-rq's
    "ballast.outbox",
    "ballast.webhooks",
    "ballast.emails",
    "ballast.uploads",
    "ballast.lifecycle",
    "ballast.ops",
]
