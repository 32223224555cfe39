"""/metrics scraped from a running stack: gunicorn (two processes) and an rqworker sharing one
PROMETHEUS_MULTIPROC_DIR, after known work; names, types and values, counters that only grow between two
scrapes, and an exposition that lints clean (prometheus_client's parser, the naming rules, and `promtool check
metrics` where promtool is available)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

from ballast.jobs.models import Job
from ballast.jobs.tests.processes import Processes, process_env, wait_for
from ballast.ops.metrics import exporter_app
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from config.tests.pg_servers import free_port

METRICS_TOKEN = "metrics-token-for-the-scrape-test-0123456789"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Stack:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (a local URL)
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def post_job(self, job_type: str, payload: dict[str, Any], **extra: Any) -> int:
        status, body = self.request(
            "POST",
            "/api/v1/jobs",
            {"job_type": job_type, "payload": payload, **extra},
            {"Authorization": f"Bearer {self.token}"},
        )
        assert status == 201, body
        return int(json.loads(body)["id"])

    def scrape(self) -> str:
        status, body = self.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200, body
        return body.decode()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture
def stack(tmp_path: Path, tenant: Tenant, make_token: TokenMaker, processes: Processes) -> Iterator[Stack]:
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), "METRICS_TOKEN": METRICS_TOKEN}
    (tmp_path / "prometheus").mkdir()
    port = free_port()
    log = (tmp_path / "web.log").open("ab")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "-b", f"127.0.0.1:{port}", "config.wsgi"],
        cwd=django_settings.BASE_DIR,
        env={**process_env(), **shared, "WEB_CONCURRENCY": "2"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    processes.worker("default", settings=shared)
    stack = Stack(port, make_token(tenant, Role.MEMBER))
    try:
        wait_for(lambda: _answers(stack), timeout=60, what="gunicorn")
        yield stack
    finally:
        web.terminate()
        web.wait(timeout=15)
        log.close()


def _answers(stack: Stack) -> bool:
    try:
        return bool(stack.request("GET", "/healthz")[0] == 200)
    except OSError:
        return False


def _samples(text: str) -> tuple[dict[str, str], Samples]:
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _lint(text: str) -> None:
    """Prometheus's conventions: every family typed and described, counters end in _total, base units (no ms),
    histograms cumulative with +Inf equal to _count."""
    families = list(text_string_to_metric_families(text))  # raises on a malformed exposition
    assert len({family.name for family in families}) == len(families), "a metric family is exported twice"
    for family in families:
        assert family.documentation, f"{family.name} has no HELP"
        assert not re.search(r"_(ms|milliseconds|minutes|hours)(_|$)", family.name), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
        if family.type == "histogram":
            series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
            counts: dict[tuple[tuple[str, str], ...], float] = {}
            for s in family.samples:
                rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    series.setdefault(rest, []).append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    counts[rest] = s.value
            for rest, buckets in series.items():
                values = [value for _, value in sorted(buckets)]
                assert values == sorted(values), f"{family.name}{rest} buckets are not cumulative"
                assert sorted(buckets)[-1][0] == float("inf") and values[-1] == counts[rest], family.name
        if family.name.startswith("ballast_"):
            assert "tenant" not in {k for s in family.samples for k in s.labels}, f"{family.name} has a tenant label"
    _promtool(text)


def _promtool(text: str) -> None:
    """Prometheus's own linter (`promtool check metrics`), when promtool is here or scripts/promtool.sh can
    provide it (as root on Debian); without it the checks above stand alone."""
    if shutil.which("promtool") is None:
        subprocess.run(
            ["bash", "scripts/promtool.sh"], cwd=django_settings.BASE_DIR, capture_output=True, timeout=600, check=False
        )
    promtool = shutil.which("promtool")
    if promtool is None:
        return
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and not done.stdout.strip(), f"promtool check metrics: {done.stdout}{done.stderr}"


def test_a_scrape_of_the_stack_counts_the_work_done_in_every_process(
    stack: Stack, processes: Processes, tmp_path: Path, settings: Any
) -> None:
    settings.METRICS_TOKEN = METRICS_TOKEN
    # Given known work through the API, run by the worker
    echoes = [stack.post_job("diagnostics.echo", {"value": index}) for index in range(2)]
    dead = stack.post_job("diagnostics.fail", {"message": "always"}, max_attempts=1)
    flaky = stack.post_job("diagnostics.fail", {"message": "once", "fail_times": 1}, max_attempts=2)
    run_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = stack.post_job("diagnostics.echo", {"value": 9}, run_at=run_at)
    keyed = {"Authorization": f"Bearer {stack.token}", "Idempotency-Key": "scrape-test-1"}
    body = {"job_type": "diagnostics.echo", "payload": {"value": 7}}
    assert [stack.request("POST", "/api/v1/jobs", body, keyed)[0] for _ in range(2)] == [201, 201]
    status, _ = stack.request("POST", f"/api/v1/jobs/{later}/cancel", {}, {"Authorization": f"Bearer {stack.token}"})
    assert status in (200, 202)

    def done() -> bool:
        jobs = {job.pk: job for job in Job.objects.unscoped().filter(pk__in=[*echoes, dead, flaky])}
        retried = jobs[flaky].attempts >= 1 and jobs[flaky].status in ("queued", "succeeded")
        return all(jobs[i].status == "succeeded" for i in echoes) and jobs[dead].status == "failed" and retried

    wait_for(done, timeout=30, what="the worker to run the jobs")
    # When Prometheus scrapes (the worker's pool gauges are written at its heartbeat, each second)
    wait_for(lambda: f'pid="{processes.running[0].pid}"' in stack.scrape(), timeout=10, what="the worker's pools")
    first = stack.scrape()
    _lint(first)
    types, before = _samples(first)

    # Then the names, types and values are those of the work done, whichever web process answered
    assert types["ballast_jobs_enqueued"] == "counter"
    assert _value(before, "ballast_jobs_enqueued_total", job_type="diagnostics.echo", queue="default") == 4
    assert _value(before, "ballast_jobs_enqueued_total", job_type="diagnostics.fail", queue="default") == 2
    assert _value(before, "ballast_jobs_started_total", job_type="diagnostics.echo", queue="default") == 3
    assert _value(before, "ballast_jobs_succeeded_total", job_type="diagnostics.echo", queue="default") == 3
    assert _value(before, "ballast_jobs_dead_lettered_total", job_type="diagnostics.fail", queue="default") == 1
    assert _value(before, "ballast_jobs_retried_total", job_type="diagnostics.fail", queue="default") == 1
    assert _value(before, "ballast_jobs_cancelled_total", job_type="diagnostics.echo", queue="default") == 1
    assert _value(before, "ballast_idempotency_requests_total", outcome="executed") == 1
    assert _value(before, "ballast_idempotency_requests_total", outcome="replayed") == 1
    assert types["ballast_job_wait_seconds"] == types["ballast_job_run_seconds"] == "histogram"
    assert _value(before, "ballast_job_run_seconds_count", job_type="diagnostics.echo") == 3
    assert _value(before, "ballast_job_wait_seconds_bucket", job_type="diagnostics.echo", le="+Inf") == 3
    assert types["ballast_queue_jobs"] == "gauge" and types["ballast_last_minute_wait_p95_seconds"] == "gauge"
    assert types["ballast_db_pool_connections"] == types["ballast_db_pool_waiting_requests"] == "gauge"
    assert types["ballast_http_429_last_hour_ratio"] == "gauge"
    assert types["ballast_delivery_transport_errors_last_hour_ratio"] == "gauge"
    worker_pools = {
        dict(labels)["alias"]
        for name, labels in before
        if name == "ballast_db_pool_connections" and dict(labels)["pid"] == str(processes.running[0].pid)
    }
    assert "default" in worker_pools
    http = [name for name in types if name.startswith("django_http_requests_total_by_view")]
    assert http and types[http[0]] == "counter"

    # And a second scrape after more work: every counter only grew, by what was done
    stack.post_job("diagnostics.echo", {"value": 10})
    succeeded = ("ballast_jobs_succeeded_total", (("job_type", "diagnostics.echo"), ("queue", "default")))
    wait_for(lambda: _samples(stack.scrape())[1].get(succeeded) == 4, timeout=30, what="the next success")
    types, after = _samples(stack.scrape())
    for (name, labels), value in before.items():
        family = name.removesuffix("_total").removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
        if types.get(family) in ("counter", "histogram") and not name.endswith("_created"):
            assert after[(name, labels)] >= value, f"{name}{dict(labels)} went down"
    assert _value(after, "ballast_jobs_enqueued_total", job_type="diagnostics.echo", queue="default") == 5

    # A host without a web process: manage.py metrics_exporter serves the same files, behind the token
    exporter = exporter_app(str(tmp_path / "prometheus"))
    assert _call(exporter, "Bearer wrong")[0].startswith("401")
    status, text = _call(exporter, f"Bearer {METRICS_TOKEN}")
    _lint(text)
    assert status.startswith("200") and _value(_samples(text)[1], *succeeded[:1], **dict(succeeded[1])) == 4


def _call(app: Any, authorization: str) -> tuple[str, str]:
    answer: list[str] = []
    environ = {"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET", "HTTP_AUTHORIZATION": authorization}
    body = b"".join(app(environ, lambda status, headers: answer.append(status)))
    return answer[0], body.decode()
