"""No request gets a server error: schemathesis generates requests from the OpenAPI schema (valid and
invalid: NUL bytes, overlong values, wrong types, bad cursors) and sends them with a real tenant admin's token."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import TokenMaker
from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def admin_token(tenant: Tenant, make_token: TokenMaker, settings: Any) -> str:
    settings.API_RATE_PER_TOKEN = ""  # the fuzzer sends hundreds of requests a minute
    settings.API_RATE_PER_TENANT = ""
    settings.QUEUE_PROCESS_RATE = ""
    return make_token(tenant, Role.ADMIN)


@schema.parametrize()
@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case, admin_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"}, checks=[not_a_server_error])
