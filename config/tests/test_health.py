from __future__ import annotations

import pytest
from django.test import Client

from config import health


@pytest.mark.usefixtures("committed")
def test_healthz_and_readyz_answer_ok_when_everything_is_reachable() -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}

    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"postgres": "ok", "redis": "ok", "migrations": "ok"}


@pytest.mark.usefixtures("committed")
def test_readyz_answers_503_naming_an_unreachable_redis(settings) -> None:
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "default": {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 5}}

    response = Client().get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["postgres"] == "ok"
    assert "Connection" in body["checks"]["redis"]


@pytest.mark.usefixtures("committed")
def test_readyz_names_unapplied_migrations(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db.migrations.recorder import MigrationRecorder

    def pretend_never_migrated(self: MigrationRecorder) -> dict:
        return {}

    monkeypatch.setattr(MigrationRecorder, "applied_migrations", pretend_never_migrated)

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["migrations"]
    assert "unapplied migration" in response.json()["checks"]["migrations"]
    assert set(health.READINESS_CHECKS) == {"postgres", "redis", "migrations"}
