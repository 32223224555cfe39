from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from ballast.tenants.models import Role, Tenant
from ballast.tenants.services import create_user_token
from ballast.tenants.tests.factories import TenantFactory

TokenMaker = Callable[..., str]


@pytest.fixture
def tenant_a(committed: None) -> Tenant:
    return TenantFactory.create(slug="alpha")


@pytest.fixture
def tenant_b(committed: None) -> Tenant:
    return TenantFactory.create(slug="bravo")


@pytest.fixture
def make_token(committed: None) -> TokenMaker:
    counter = iter(range(1000))

    def make(tenant: Tenant, role: Role = Role.MEMBER) -> str:
        return create_user_token(tenant=tenant, username=f"{tenant.slug}-{role}-{next(counter)}", role=role).plaintext

    return make


def client_for(token: str, keyword: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {token}")
    return client
