"""Settings: this repository's site (base) on Ballast's own (ballast.settings); APP_ENV picks the defaults."""

# isort: off
# The site's environment comes first: config.settings.env loads .env and var/*.env into the environment that
# Ballast's settings then read.
from typing import cast

import django_stubs_ext

from config.settings.base import *  # noqa: F403
from ballast.settings import *  # noqa: F403
from ballast.lib.settings_safety import assert_safe_configuration

# isort: on

INSTALLED_APPS += BALLAST_APPS  # noqa: F405
if APP_ENV != "prod":  # noqa: F405
    # The guides' examples (examples/tasks.py): tasks any tenant's code may enqueue.
    INSTALLED_APPS.append("examples")
    cast(list[dict[str, str]], SPECTACULAR_SETTINGS["TAGS"]).append(  # noqa: F405
        {"name": "examples", "description": "The guides' examples (docs/first-job.md)."}
    )

assert_safe_configuration(globals())

# Lets generic Django classes be subscripted at run time (ModelAdmin[Model]) for mypy.
django_stubs_ext.monkeypatch()
