"""Which models belong to a tenant: each must be under row-level security (ballast.lib.rls), and the app role's
grants are computed from them (tenants.db_roles)."""

from __future__ import annotations

from django.db import models


def tenant_owned_models() -> list[type[models.Model]]:
    """Every concrete model with a foreign key to Tenant: each must be under row-level security."""
    from django.apps import apps

    from ballast.tenants.models import Tenant

    return [
        model
        for model in apps.get_models()
        if not model._meta.abstract
        and not model._meta.proxy
        and any(field.many_to_one and field.related_model is Tenant for field in model._meta.concrete_fields)
    ]
