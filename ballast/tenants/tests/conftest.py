from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from ballast.tenants.models import Tenant
from ballast.tenants.tests.factories import TenantFactory


@pytest.fixture
def tenant_a(committed: None) -> Tenant:
    return TenantFactory.create(slug="alpha")


@pytest.fixture
def tenant_b(committed: None) -> Tenant:
    return TenantFactory.create(slug="bravo")


def client_for(token: str, keyword: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {token}")
    return client
