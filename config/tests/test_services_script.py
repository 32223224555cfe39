"""scripts/services.sh is idempotent: a second run finds everything in place and changes nothing; in production
it installs, starts and writes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
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


def _copy_of_the_script(root: Path) -> Path:
    (root / "scripts").mkdir()
    copy = root / "scripts" / "services.sh"
    shutil.copy(settings.BASE_DIR / "scripts" / "services.sh", copy)
    return copy


@pytest.mark.parametrize(
    ("environment", "dotenv"),
    [
        ({"APP_ENV": "prod"}, None),
        ({}, "APP_ENV=prod\n"),
        ({"APP_ENV": "dev", "START_SERVICES_IF_NEEDED": "false"}, None),
    ],
)
def test_in_production_the_script_installs_starts_and_writes_nothing(
    tmp_path: Path, environment: dict[str, str], dotenv: str | None
) -> None:
    script = _copy_of_the_script(tmp_path)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    inherited = {k: v for k, v in os.environ.items() if k not in {"APP_ENV", "START_SERVICES_IF_NEEDED"}}

    result = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=60, env={**inherited, **environment}
    )

    assert result.returncode == 0, result.stderr
    assert "nothing is installed or started" in result.stderr
    assert not (tmp_path / "var").exists()


def test_make_migrate_and_preflight_start_no_service_in_production() -> None:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "APP_ENV"))}
    for target in ("services", "migrate", "preflight"):
        plan = subprocess.run(
            ["make", "-n", "-C", str(settings.BASE_DIR), target, "APP_ENV=prod"],
            capture_output=True,
            text=True,
            timeout=60,
            env=inherited,
        )
        assert plan.returncode == 0, plan.stderr
        assert "APP_ENV=prod bash scripts/services.sh" in plan.stdout, plan.stdout

    services = subprocess.run(
        ["make", "-s", "-C", str(settings.BASE_DIR), "services", "APP_ENV=prod"],
        capture_output=True,
        text=True,
        timeout=60,
        env=inherited,
    )
    assert services.returncode == 0, services.stderr
    assert "APP_ENV=prod: nothing is installed or started" in services.stderr
