"""The API throttle: exact under concurrency, Retry-After on every 429, addresses only from trusted proxies,
and fail-open (bounded, logged, counted) when Redis is down or hung."""

from __future__ import annotations

import http.client
import pickle
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from ballast.api import throttling
from ballast.jobs import wakeups
from ballast.jobs.models import Job
from ballast.jobs.tests.processes import process_env, wait_for
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import ApiToken, Role, Tenant
from ballast.tenants.tests.conftest import client_for
from config.tests.redis_servers import RedisServer, free_port

JOB = {"job_type": "diagnostics.echo", "payload": {"value": 1}}
SECRET = "queue-secret-for-tests-only-0123456789"


class Planted:
    """Unpickling this creates MARKER: proof that a pickle read from Redis was loaded."""

    marker = ""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {Planted.marker}",))


@pytest.fixture
def web(tmp_path: Path, committed: None) -> Iterator[Any]:
    """The app under gunicorn (two processes, eight threads each) on the test database; a function that
    starts it with extra settings and returns its port. Stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> int:
        port = free_port()
        log = (tmp_path / f"web-{port}.log").open("ab")
        command = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"]
        process = subprocess.Popen(
            [*command, "--threads", "8", "--timeout", "60"],
            cwd=django_settings.BASE_DIR,
            env={**process_env(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)

        def up() -> bool:
            try:
                return _get(port, "/healthz", "")[0] == 200
            except OSError:
                return False

        wait_for(up, timeout=60, what="gunicorn")
        return port

    try:
        yield start
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _get(port: int, path: str, token: str) -> tuple[int, str | None]:
    """(status, Retry-After) of one GET on its own connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    finally:
        connection.close()


def test_120_concurrent_requests_against_a_30_per_minute_limit_admit_exactly_30_each_429_with_retry_after(
    tenant: Tenant, make_token: TokenMaker, web: Any
) -> None:
    token = make_token(tenant, Role.VIEWER)
    port = web(API_RATE_PER_TOKEN="30/min")

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(lambda _: _get(port, "/api/v1/jobs", token), range(120)))

    assert Counter(status for status, _ in answers) == {200: 30, 429: 90}
    waits = [retry_after for status, retry_after in answers if status == 429]
    assert all(value is not None and value.isdigit() and int(value) >= 1 for value in waits), waits


def test_a_429_always_carries_an_integer_retry_after_within_the_window(
    tenant: Tenant, make_token: TokenMaker, settings: Any
) -> None:
    settings.API_RATE_PER_TOKEN = "2/min"
    client = client_for(make_token(tenant, Role.VIEWER))

    answers = [client.get("/api/v1/jobs") for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200, 200, 429, 429, 429]
    assert all(1 <= int(answer["Retry-After"]) <= 60 for answer in answers[2:])


def _process_queue(forwarded_for: str, remote_addr: str = "10.0.0.7") -> int:
    response = APIClient().post(
        "/api/v1/queue/process?max=1",
        HTTP_X_QUEUE_SECRET=SECRET,
        HTTP_X_FORWARDED_FOR=forwarded_for,
        REMOTE_ADDR=remote_addr,
    )
    return int(response.status_code)


def test_a_secret_caller_rotating_x_forwarded_for_is_still_counted_by_its_own_address(
    tenant: Tenant, settings: Any
) -> None:
    settings.QUEUE_PROCESS_SECRET = SECRET
    settings.QUEUE_PROCESS_RATE = "2/min"

    answers = [_process_queue(forwarded_for=f"203.0.113.{index}") for index in range(4)]

    assert answers == [200, 200, 429, 429]


def test_behind_the_trusted_proxy_the_address_it_appended_is_what_counts(tenant: Tenant, settings: Any) -> None:
    settings.QUEUE_PROCESS_SECRET = SECRET
    settings.QUEUE_PROCESS_RATE = "2/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    # The client's own X-Forwarded-For entries come first; the proxy appends the address it saw.
    first = [_process_queue(forwarded_for=f"198.51.100.{index}, 192.0.2.1") for index in range(3)]
    other_client = _process_queue(forwarded_for="192.0.2.2")

    assert first == [200, 200, 429] and other_client == 200


def _fail_open_total() -> int:
    return throttling.FAIL_OPEN.value


def test_enqueue_answers_201_while_redis_is_down_and_the_throttle_says_it_failed_open(
    tenant: Tenant, make_token: TokenMaker, private_redis: RedisServer, settings: Any, caplog: Any
) -> None:
    settings.METRICS_TOKEN = "metrics-token-for-tests"
    client = client_for(make_token(tenant, Role.MEMBER))
    assert client.post("/api/v1/jobs", JOB, format="json").status_code == 201
    assert wakeups.flush()  # its wake-up reached Redis: the outage starts after it
    before = _fail_open_total()
    private_redis.kill()

    answers = [client.post("/api/v1/jobs", JOB, format="json").status_code for _ in range(5)]

    assert answers == [201] * 5
    assert Job.objects.unscoped().count() == 6
    assert _fail_open_total() - before >= 5  # token and tenant throttles, each request
    assert any("failed open" in record.getMessage() for record in caplog.records)
    metrics = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-for-tests")
    line = next(line for line in metrics.content.decode().splitlines() if line.startswith("ballast_throttle_fail_open"))
    assert line.split()[0] == "ballast_throttle_fail_open_total" and float(line.split()[1]) >= 5


def test_a_hung_redis_costs_one_request_a_short_timeout_and_the_next_ones_nothing(
    tenant: Tenant, make_token: TokenMaker, private_redis: RedisServer
) -> None:
    client = client_for(make_token(tenant, Role.MEMBER))
    assert client.post("/api/v1/jobs", JOB, format="json").status_code == 201
    private_redis.pause()
    try:
        started = time.monotonic()
        first = client.post("/api/v1/jobs", JOB, format="json").status_code
        first_took = time.monotonic() - started
        started = time.monotonic()
        rest = [client.post("/api/v1/jobs", JOB, format="json").status_code for _ in range(10)]
        rest_took = time.monotonic() - started
    finally:
        private_redis.resume()

    assert first == 201 and rest == [201] * 10
    assert first_took < 2.0, first_took  # REDIS_REQUEST_TIMEOUT (0.25 s) per Redis call, then the breaker opens
    assert rest_took < 3.0, rest_took  # within REDIS_FAIL_OPEN_SECONDS nothing waits for Redis
    assert rest_took / 10 < first_took


def test_the_throttle_counts_again_once_redis_is_back(
    tenant: Tenant, make_token: TokenMaker, private_redis: RedisServer, settings: Any
) -> None:
    settings.API_RATE_PER_TOKEN = "3/min"
    settings.REDIS_FAIL_OPEN_SECONDS = 0.2
    client = client_for(make_token(tenant, Role.VIEWER))
    private_redis.kill()
    assert [client.get("/api/v1/jobs").status_code for _ in range(5)] == [200] * 5
    private_redis.start()
    time.sleep(0.3)  # the breaker's window (0.2 s) lapses

    answers = [client.get("/api/v1/jobs").status_code for _ in range(5)]

    assert answers == [200, 200, 200, 429, 429]


def test_a_pickle_planted_under_a_throttle_key_is_never_loaded(
    tenant: Tenant, make_token: TokenMaker, private_redis: RedisServer, tmp_path: Path, settings: Any
) -> None:
    Planted.marker = str(tmp_path / "pwned")
    plaintext = make_token(tenant, Role.VIEWER)
    token = ApiToken.objects.unscoped().get(tenant=tenant)
    payload = pickle.dumps(Planted())
    redis = private_redis.client()
    redis.set(f"ballast:throttle:token:{token.pk}", payload)  # a string where the throttle keeps a sorted set
    redis.zadd(f"ballast:throttle:tenant:{tenant.pk}", {payload: time.time() * 1000})  # a pickle as a member
    # Where a Django cache backend would look for the same keys (it would unpickle what it finds).
    redis.set(f":1:ballast:throttle:token:{token.pk}", payload)
    redis.set(f":1:ballast:throttle:tenant:{tenant.pk}", payload)

    answers = [client_for(plaintext).get("/api/v1/jobs").status_code for _ in range(3)]

    assert answers == [200, 200, 200]
    assert not Path(Planted.marker).exists()
