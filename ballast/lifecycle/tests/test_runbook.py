"""docs/OPERATOR_RUNBOOK.md names only commands that exist and that the test suite runs."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.management import get_commands

RUNBOOK = Path(settings.BASE_DIR) / "docs" / "OPERATOR_RUNBOOK.md"
# Long-running processes and Django's own: the suite starts them as real processes (jobs.tests.processes,
# the test database set-up), not through call_command("name").
PROCESSES = {"rqworker", "jobs_scheduler", "migrate", "shell"}


def _test_sources() -> str:
    root = Path(settings.BASE_DIR)
    return "\n".join(path.read_text() for path in root.glob("ballast/*/tests/*.py") if ".venv" not in path.parts)


def test_every_command_in_the_runbook_exists_and_a_test_runs_it() -> None:
    named = set(re.findall(r"manage\.py (\w+)", RUNBOOK.read_text()))
    sources = _test_sources()

    assert named >= {"retention", "partition_health", "tenant_purge", "partition_convert", "preflight"}
    assert not named - set(get_commands()), "the runbook names commands that do not exist"
    untested = {name for name in named - PROCESSES if f'"{name}"' not in sources}
    assert not untested, f"no test runs {sorted(untested)}"
