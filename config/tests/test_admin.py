"""Every admin page an operator opens renders, across tenants, through the system alias."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from ballast.tenants.tests.factories import MembershipFactory


@pytest.mark.usefixtures("committed")
def test_each_changelist_renders_for_staff_and_shows_rows_of_every_tenant() -> None:
    MembershipFactory.create(tenant__slug="alpha")
    MembershipFactory.create(tenant__slug="bravo")
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(get_user_model().objects.get(username="root"))

    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
    memberships = client.get(reverse("admin:tenants_membership_changelist")).content.decode()
    assert "alpha" in memberships and "bravo" in memberships
