from typing import Any

from rest_framework.test import APIClient

from ballast.jobs.testing import run_due_jobs
from ballast.tenants.models import Tenant


def test_the_greeting_runs_in_the_background(tenant: Tenant, make_token: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(tenant)}")

    posted = client.post("/api/v1/greetings", {"name": "Ada"}, format="json")
    assert posted.status_code == 202
    assert run_due_jobs().succeeded == 1

    read = client.get(f"/api/v1/greetings/{posted.json()['id']}")
    assert read.json() == {"status": "SUCCESSFUL", "greeting": "Hello, Ada!"}
