"""docs/install.md, followed literally: a new Django project, Ballast installed from this checkout into a fresh
virtualenv, the guide's files and commands, a migrated database of its own, a task enqueued from a view, a
worker, the result read back, and the project's tests on Ballast's fixtures. docs/first-job.md's app (`examples`,
whose files that page quotes) is added to the same project, and its tests run there too."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import redis
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
GUIDE = ROOT / "docs" / "install.md"
# The guide's files, and where each goes in the new project (appended, or written whole).
APPENDED = {"docs/install/settings.py": "mysite/settings.py", "docs/install/urls.py": "mysite/urls.py"}
WRITTEN = {
    **{f"docs/install/shop/{name}": f"shop/{name}" for name in ("tasks.py", "views.py", "urls.py", "tests.py")},
    "docs/install/conftest.py": "conftest.py",
    "docs/install/pytest.ini": "pytest.ini",
}
# docs/first-job.md's app, installed as its first step says, with its routes.
FIRST_JOB_SETTINGS = 'INSTALLED_APPS += ["examples"]\n'
FIRST_JOB_URLS = 'urlpatterns += [path("api/v1/", include("examples.urls"))]\n'
COPY_IGNORED = shutil.ignore_patterns(".git", ".venv", "var", "node_modules", "__pycache__", "*_cache", "build")


def _blocks() -> list[str]:
    return re.findall(r"^```sh test=install\n(.*?)^```$", GUIDE.read_text(), re.M | re.S)


def _dsn(alias: str, database: str) -> str:
    db = settings.DATABASES[alias]
    return f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'])}@{db['HOST']}:{db['PORT']}/{database}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own, owned by the schema owner, with the guide's schema grants (scripts/sql/schema.sql)."""
    name = f"ballast_install_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_dsn("owner", "postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" OWNER ballast_owner')
    try:
        with psycopg.connect(_dsn("owner", name), autocommit=True) as owner:
            owner.execute((ROOT / "scripts" / "sql" / "schema.sql").read_text())
        yield name
    finally:
        with psycopg.connect(_dsn("owner", "postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(script: str, cwd: Path, env: dict[str, str]) -> str:
    """One block of the guide, as one bash script in a process group of its own (stopped whole afterwards)."""
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert process.returncode == 0, output[-4000:]
    return output


@pytest.mark.timeout(400)
def test_the_install_guide_runs_a_task_from_a_view_in_a_new_project(tmp_path: Path, database: str) -> None:
    source = tmp_path / "ballast"  # a copy, so that building the package leaves the checkout as it was
    shutil.copytree(ROOT, source, ignore=COPY_IGNORED)
    project = tmp_path / "project"
    project.mkdir()
    redis_db = 12
    redis_url = re.sub(r"/\d+$", f"/{redis_db}", settings.REDIS_DSN.split("?")[0])
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "APP_ENV": "dev",
        "BALLAST": str(source),
        "POSTGRES_DSN": _dsn("default", database),
        "POSTGRES_SYSTEM_DSN": _dsn("system", database),
        "OWNER_DSN": _dsn("owner", database),
        "REDIS_DSN": redis_url,
        "PORT": str(_free_port()),
    }
    install, run, test = _blocks()

    _run(install, project, env)
    for guide_file, target in APPENDED.items():
        with (project / target).open("a") as file:
            file.write("\n" + (ROOT / guide_file).read_text())
    for guide_file, target in WRITTEN.items():
        (project / target).write_text((ROOT / guide_file).read_text())
    shutil.copytree(ROOT / "examples", project / "examples", ignore=COPY_IGNORED)
    with (project / "mysite" / "settings.py").open("a") as file:
        file.write(FIRST_JOB_SETTINGS)
    with (project / "mysite" / "urls.py").open("a") as file:
        file.write(FIRST_JOB_URLS)
    try:
        output = _run(run, project, env)
        tested = _run(test, project, env)
    finally:
        redis.Redis.from_url(redis_url).flushdb()

    assert json.loads(output.strip().splitlines()[-1]) == {"status": "SUCCESSFUL", "greeting": "Hello, Ada!"}
    # The guide's test and every test of docs/first-job.md, inside the new project.
    first_job_tests = len(re.findall(r"^def test_", (ROOT / "examples/tests/test_first_job.py").read_text(), re.M))
    assert f"{1 + first_job_tests} passed" in tested, tested[-2000:]
