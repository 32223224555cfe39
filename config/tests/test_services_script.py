"""scripts/services.sh is idempotent: a second run finds everything in place and changes nothing."""

from __future__ import annotations

import subprocess

from django.conf import settings


def test_services_script_twice_changes_nothing() -> None:
    script = settings.BASE_DIR / "scripts" / "services.sh"
    env_file = settings.BASE_DIR / "var" / "services.env"

    first = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120, check=True)
    recorded = env_file.read_text()
    mtime = env_file.stat().st_mtime_ns
    second = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120, check=True)

    assert "creating database" not in second.stderr
    assert "starting" not in second.stderr
    assert env_file.read_text() == recorded
    assert env_file.stat().st_mtime_ns == mtime
    assert "POSTGRES_DSN=postgres://ballast_app:" in recorded
    assert first.stderr.splitlines()[-1] == second.stderr.splitlines()[-1]
