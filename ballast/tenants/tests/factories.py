"""factory-boy factories. Tenant-owned rows are written through the system alias (committed tests)."""

from __future__ import annotations

from typing import Any, TypeVar

import factory
from django.contrib.auth import get_user_model

from ballast.tenants.models import Membership, Role, Tenant

_T = TypeVar("_T")


class TenantFactory(factory.django.DjangoModelFactory[Tenant]):
    class Meta:
        model = Tenant
        database = "system"

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda tenant: tenant.slug.title())


class UserFactory(factory.django.DjangoModelFactory[Any]):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user-{n}")


class TenantOwnedFactory(factory.django.DjangoModelFactory[_T]):
    class Meta:
        abstract = True
        database = "system"

    @classmethod
    def _get_manager(cls, model_class: Any) -> Any:
        return model_class.objects.unscoped()


class MembershipFactory(TenantOwnedFactory[Membership]):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER
