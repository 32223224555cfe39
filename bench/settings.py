"""Ballast's settings plus the `bench` app, whose job_handlers.py declares the no-op job type `bench.noop`.

Used by bench/jobs_throughput.py for its own process and the workers it starts (DJANGO_SETTINGS_MODULE).
"""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
