"""Settings: one base plus one module per concern; APP_ENV picks the defaults."""

import django_stubs_ext

from ballast.lib.settings_safety import assert_safe_configuration
from config.settings.base import *  # noqa: F403
from config.settings.convert import *  # noqa: F403
from config.settings.drf import *  # noqa: F403
from config.settings.emails import *  # noqa: F403
from config.settings.jobs import *  # noqa: F403
from config.settings.lifecycle import *  # noqa: F403
from config.settings.ops import *  # noqa: F403
from config.settings.outbox import *  # noqa: F403
from config.settings.redis import *  # noqa: F403
from config.settings.rq import *  # noqa: F403
from config.settings.security import *  # noqa: F403
from config.settings.tasks import *  # noqa: F403
from config.settings.uploads import *  # noqa: F403
from config.settings.webhooks import *  # noqa: F403

assert_safe_configuration(globals())

# Lets generic Django classes be subscripted at run time (ModelAdmin[Model]) for mypy.
django_stubs_ext.monkeypatch()
