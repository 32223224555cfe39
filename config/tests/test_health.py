from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ballast.api import health
from ballast.jobs.tests.conftest import redis  # noqa: F401  (fixture)
from ballast.lib import redis_client
from ballast.tenants.db_roles import role_facts, role_problems

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings) -> None:
    settings.REDIS_DSN = UNREACHABLE_REDIS


@pytest.fixture(autouse=True)
def fresh_probe() -> Iterator[None]:
    """Each test starts with no cached readiness and a closed Redis breaker (a test with Redis down trips it)."""
    health.forget_cached_checks()
    yield
    health.forget_cached_checks()
    redis_client.REQUEST_BREAKER.reset()


def _staff_client(*, staff: bool = True) -> Client:
    user = get_user_model().objects.create_user("ops", password="pw-for-tests-only", is_staff=staff)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.usefixtures("committed")
def test_healthz_and_readyz_answer_ok_when_everything_is_reachable() -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}

    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "migrations": "ok", "roles": "ok"},
    }


@pytest.mark.usefixtures("committed", "redis_down")
def test_readyz_tells_an_anonymous_caller_which_component_fails_and_nothing_more() -> None:
    response = Client().get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body == {
        "status": "unavailable",
        "failing": ["redis"],
        "checks": {"postgres": "ok", "redis": "fail", "migrations": "ok", "roles": "ok"},
    }
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.usefixtures("committed", "redis_down")
def test_a_staff_session_sees_the_error_text() -> None:
    response = _staff_client().get("/readyz")

    assert response.status_code == 503
    assert "Connection" in response.json()["details"]["redis"]


@pytest.mark.usefixtures("committed", "redis_down")
def test_a_logged_in_user_who_is_not_staff_sees_no_details() -> None:
    response = _staff_client(staff=False).get("/readyz")

    assert "details" not in response.json()


@pytest.mark.usefixtures("committed", "redis_down")
def test_the_health_token_shows_details_and_a_wrong_one_does_not(settings) -> None:
    settings.HEALTH_TOKEN = "health-token-for-tests-0123456789"

    right = Client().get("/readyz", HTTP_AUTHORIZATION="Bearer health-token-for-tests-0123456789")
    wrong = Client().get("/readyz", HTTP_AUTHORIZATION="Bearer health-token-for-tests-0123456780")

    assert "Connection" in right.json()["details"]["redis"]
    assert "details" not in wrong.json()


@pytest.mark.usefixtures("committed")
def test_readyz_names_unapplied_migrations_to_staff_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db.migrations.recorder import MigrationRecorder

    def pretend_never_migrated(self: MigrationRecorder) -> dict:
        return {}

    monkeypatch.setattr(MigrationRecorder, "applied_migrations", pretend_never_migrated)

    anonymous = Client().get("/readyz")
    staff = _staff_client().get("/readyz")

    assert anonymous.status_code == 503
    assert anonymous.json()["failing"] == ["migrations"]
    assert "tenants" not in anonymous.content.decode()
    assert "unapplied migration" in staff.json()["details"]["migrations"]
    assert set(health.READINESS_CHECKS) == {"postgres", "redis", "migrations", "roles"}


@pytest.mark.usefixtures("committed")
def test_readyz_fails_when_the_app_role_could_bypass_row_level_security(monkeypatch: pytest.MonkeyPatch) -> None:
    # The owner role owns every table: served as the app role, RLS would not bind it.
    monkeypatch.setattr(
        health, "runtime_role_problems", lambda: role_problems(app=role_facts("owner"), system=role_facts("system"))
    )

    response = _staff_client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["roles"]
    assert "owns" in response.json()["details"]["roles"]


@pytest.mark.usefixtures("committed")
def test_an_anonymous_probe_is_cheap_it_reuses_the_costly_checks_for_a_while(settings) -> None:
    settings.HEALTH_TOKEN = "health-token-for-tests-0123456789"
    Client().get("/readyz", REMOTE_ADDR="198.51.100.7")  # fills the cache

    with CaptureQueriesContext(connections["default"]) as anonymous:
        cheap = Client().get("/readyz", REMOTE_ADDR="198.51.100.7")
    with CaptureQueriesContext(connections["default"]) as authenticated:
        full = Client().get("/readyz", HTTP_AUTHORIZATION="Bearer health-token-for-tests-0123456789")

    assert cheap.status_code == 200 and cheap.json()["checks"]["migrations"] == "ok"
    assert [query["sql"] for query in anonymous.captured_queries] == ["SELECT 1"]
    assert full.status_code == 200 and len(authenticated.captured_queries) > 1  # every check, run now


@pytest.mark.usefixtures("committed", "redis")
def test_anonymous_probes_are_throttled_per_client_and_the_health_token_is_not(settings) -> None:
    settings.HEALTH_TOKEN = "health-token-for-tests-0123456789"
    settings.HEALTH_ANONYMOUS_RATE = "3/min"

    answers = [Client().get("/readyz", REMOTE_ADDR="203.0.113.9").status_code for _ in range(4)]
    refused = Client().get("/readyz", REMOTE_ADDR="203.0.113.9")
    elsewhere = Client().get("/readyz", REMOTE_ADDR="203.0.113.10")
    monitoring = [
        Client().get(
            "/readyz", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer health-token-for-tests-0123456789"
        )
        for _ in range(5)
    ]

    assert answers == [200, 200, 200, 429]
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json()["status"] == "throttled"
    assert elsewhere.status_code == 200
    assert [response.status_code for response in monitoring] == [200] * 5


@pytest.mark.usefixtures("committed", "redis_down")
def test_the_probe_throttle_fails_open_when_redis_is_down(settings) -> None:
    settings.HEALTH_ANONYMOUS_RATE = "1/min"

    answers = [Client().get("/readyz", REMOTE_ADDR="203.0.113.11").status_code for _ in range(3)]

    assert answers == [503, 503, 503]  # Redis fails the check; the throttle lets every probe through


@pytest.mark.usefixtures("committed")
def test_staff_see_the_answering_processs_pools_and_anonymous_callers_do_not() -> None:
    anonymous = Client().get("/readyz").json()
    staff = _staff_client().get("/readyz").json()

    assert "pools" not in anonymous
    pools = {pool["alias"]: pool for pool in staff["pools"]}
    assert set(pools["default"]) == {"alias", "in_use", "idle", "waiting", "max_size"}
    assert pools["default"]["in_use"] + pools["default"]["idle"] >= 1
    assert pools["default"]["waiting"] == 0 and pools["default"]["max_size"] >= 1
