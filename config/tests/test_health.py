from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ballast.api import health
from ballast.tenants.db_roles import role_facts, role_problems

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings) -> None:
    settings.REDIS_DSN = UNREACHABLE_REDIS


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
def test_staff_see_the_answering_processs_pools_and_anonymous_callers_do_not() -> None:
    anonymous = Client().get("/readyz").json()
    staff = _staff_client().get("/readyz").json()

    assert "pools" not in anonymous
    pools = {pool["alias"]: pool for pool in staff["pools"]}
    assert set(pools["default"]) == {"alias", "in_use", "idle", "waiting", "max_size"}
    assert pools["default"]["in_use"] + pools["default"]["idle"] >= 1
    assert pools["default"]["waiting"] == 0 and pools["default"]["max_size"] >= 1
