"""Traces and logs seen from outside real processes: a web process and a worker each print their spans with the
console exporter, and one trace runs from the HTTP request to the handler; a worker's JSON log lines follow a
job through its retry to its dead letter."""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.db import transaction

from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.tests.processes import Processes, process_env, wait_for
from ballast.lib import telemetry
from ballast.lib.logging import ContextFilter, JsonFormatter, bound, logging_config
from ballast.lib.tracing import TraceContext, trace_context
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from config.tests.redis_servers import free_port

CONSOLE = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "ballast-test"}


def spans_in(text: str) -> list[dict[str, Any]]:
    """The console exporter's spans in a process's output: JSON objects starting a line, with a span context."""
    decoder = json.JSONDecoder()
    spans: list[dict[str, Any]] = []
    offset = end = 0
    for line in text.splitlines(keepends=True):
        if offset >= end and line.startswith("{"):
            try:
                found, end = decoder.raw_decode(text, offset)
            except ValueError:
                found = None
            if isinstance(found, dict) and "context" in found:
                spans.append(found)
        offset += len(line)
    return spans


def _web(processes: Processes, **env: str) -> int:
    port = free_port()
    log = (processes.log_dir / "web.log").open("ab")
    processes.running.append(
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
            cwd=settings.BASE_DIR,
            env={**process_env(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    )

    def up() -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False

    wait_for(up, timeout=60, what="gunicorn")
    return port


def _post_job(port: int, token: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"job_type": "diagnostics.echo", "payload": {"value": 7}})
    connection.request(
        "POST",
        "/api/v1/jobs",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 201, answer
    return int(answer["id"])


def test_one_trace_runs_from_the_http_request_through_the_enqueue_to_the_handler(
    tenant: Tenant, make_token: TokenMaker, processes: Processes
) -> None:
    port = _web(processes, **CONSOLE)
    job_id = _post_job(port, make_token(tenant, Role.MEMBER))
    worker = processes.worker("default", burst=True, settings=CONSOLE)
    worker.wait(timeout=60)
    assert job_row(job_id).status == "succeeded"
    processes.stop_all()

    web_spans = spans_in(processes.log("web"))
    worker_spans = spans_in(processes.log("worker"))
    (request,) = [span for span in web_spans if span["kind"] == "SpanKind.SERVER" and span["name"].startswith("POST")]
    (enqueue_span,) = [span for span in web_spans if span["name"] == "ballast.enqueue"]
    (handler,) = [span for span in worker_spans if span["name"] == "ballast.job diagnostics.echo"]
    (wait,) = [span for span in worker_spans if span["name"] == "ballast.job.wait"]
    trace_id = request["context"]["trace_id"]
    assert request["parent_id"] is None and request["name"] == "POST api/v1/jobs"
    assert enqueue_span["context"]["trace_id"] == handler["context"]["trace_id"] == trace_id
    assert enqueue_span["parent_id"] == request["context"]["span_id"]
    assert handler["parent_id"] == wait["parent_id"] == enqueue_span["context"]["span_id"]
    assert handler["attributes"] == {
        "ballast.job.id": job_id,
        "ballast.job.type": "diagnostics.echo",
        "ballast.job.queue": "default",
        "ballast.job.attempt": 1,
        "ballast.tenant_id": tenant.pk,
        "ballast.job.outcome": "succeeded",
    }
    # What the job stored continues the same trace (its job.succeeded event too).
    assert job_row(job_id).traceparent.startswith(f"00-{trace_id[2:]}-{enqueue_span['context']['span_id'][2:]}-")
    assert request["resource"]["attributes"]["service.name"] == "ballast-test"


def test_a_worker_logs_a_failing_job_as_json_lines_from_its_start_to_its_dead_letter(
    tenant: Tenant, processes: Processes
) -> None:
    with trace_context(TraceContext(correlation_id="corr-42")), transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "boom"}, max_attempts=2)

    processes.scheduler()
    processes.worker("default", LOG_FORMAT="json")
    wait_for(lambda: job_row(job.pk).status == "failed", timeout=30, what="the job's dead letter")
    processes.stop_all()

    output = processes.log("worker")
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("job_id") == job.pk]
    assert [line["event"] for line in mine] == ["job.started", "job.retry", "job.started", "job.dead_letter"]
    for line in mine:
        assert {"timestamp", "level", "logger", "message"} <= line.keys()
        assert line["logger"] == "ballast.jobs.worker"
        assert line["correlation_id"] == "corr-42"
        assert line["trace_id"] == job.trace_id
        assert line["tenant_id"] == tenant.pk
        assert line["job_type"] == "diagnostics.fail"
    assert [line["attempt"] for line in mine] == [1, 1, 2, 2]
    started, retry, _, dead = mine
    assert started["level"] == "INFO" and dead["level"] == "ERROR"
    assert 0 <= retry["retry_delay_seconds"] <= 2 and "boom" in retry["error"]
    assert dead["dead_letter_reason"] == "exhausted" and "boom" in dead["error"]
    # Nothing is exported without OTEL_*: no span in the worker's output.
    assert spans_in(output) == []


def test_tracing_is_off_unless_otel_variables_ask_for_an_exporter() -> None:
    assert telemetry.exporter_names({}) == []
    assert telemetry.exporter_names({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert telemetry.exporter_names({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == ["otlp"]
    assert telemetry.exporter_names({"OTEL_TRACES_EXPORTER": "console,otlp"}) == ["console", "otlp"]
    assert telemetry.exporter_names({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}) == []
    assert telemetry.current_traceparent() == ""  # this process configured no exporter


def test_a_json_line_carries_the_context_of_the_request_and_the_job(capsys: Any) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    log = logging.getLogger("ballast.tests.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        with trace_context(TraceContext(correlation_id="c-1", traceparent=traceparent)), bound(job_id=5, attempt=2):
            log.warning("hello %s", "world")
        log.info("bare")
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["message"] == "hello world" and first["level"] == "WARNING" and first["logger"] == log.name
    assert first["timestamp"].endswith("+00:00")
    assert (first["correlation_id"], first["trace_id"], first["job_id"], first["attempt"]) == (
        "c-1",
        "0af7651916cd43dd8448eb211c80319c",
        5,
        2,
    )
    assert "job_id" not in second and "correlation_id" not in second


def test_log_format_is_json_or_text_and_nothing_else() -> None:
    assert logging_config(log_format="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    try:
        logging_config(log_format="xml", level="INFO")
    except ValueError as exc:
        assert "LOG_FORMAT" in str(exc)
    else:
        raise AssertionError("xml was accepted")
    assert settings.LOG_FORMAT == "text"  # ci's default; prod's is json


def test_the_spans_parser_reads_console_output_between_log_lines() -> None:
    text = (
        'a log line\n{\n    "name": "x",\n    "context": {}\n}\n'
        '{"message": "a json log line"}\n{"name": "y", "context": {}}\n'
    )
    assert [span["name"] for span in spans_in(text)] == ["x", "y"]
