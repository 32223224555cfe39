"""`manage.py check`: every tenant-owned model is under row-level security and unique per tenant."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.db import models

from ballast.lib.rls import models_with_rls_migration
from ballast.tenants.owned_models import tenant_owned_models


def _tenant_field_names(model: type[models.Model]) -> set[str]:
    from ballast.tenants.models import Tenant

    return {
        name
        for field in model._meta.concrete_fields
        if field.many_to_one and field.related_model is Tenant
        for name in (field.name, field.attname)
    }


@register()
def check_tenant_tables(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    protected = models_with_rls_migration()
    for model in tenant_owned_models():
        label = f"{model._meta.app_label}.{model.__name__}"
        if (model._meta.app_label, model._meta.model_name) not in protected:
            errors.append(
                Error(
                    f"{label} has a tenant foreign key but no migration applies row-level security to it.",
                    hint=f'Add ballast.lib.rls.EnableRowLevelSecurity("{model._meta.model_name}") to its migration.',
                    obj=model,
                    id="tenants.E001",
                )
            )
        tenant_fields = _tenant_field_names(model)
        unique_sets: list[tuple[str, ...]] = [
            (field.name,) for field in model._meta.concrete_fields if field.unique and not field.primary_key
        ]
        unique_sets += [tuple(fields) for fields in model._meta.unique_together]
        unique_sets += [
            tuple(constraint.fields)
            for constraint in model._meta.constraints
            if isinstance(constraint, models.UniqueConstraint) and constraint.fields
        ]
        for fields in unique_sets:
            if not tenant_fields.intersection(fields):
                errors.append(
                    Error(
                        f"{label} has a unique constraint on {fields} without the tenant.",
                        hint="Put tenant_id inside every unique constraint of a tenant-owned table.",
                        obj=model,
                        id="tenants.E002",
                    )
                )
    return errors


@register()
def check_runtime_roles(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Production: the app role is NOSUPERUSER NOBYPASSRLS and owns nothing; the system role is no superuser.
    (Every manage.py process that serves or works runs this; the web process checks in config/wsgi.py.)"""
    from django.conf import settings
    from django.db import DatabaseError

    from ballast.tenants.db_roles import runtime_role_problems

    if settings.APP_ENV != "prod":
        return []
    try:
        problems = runtime_role_problems()
    except DatabaseError as exc:
        return [Error(f"Cannot check the database roles: {type(exc).__name__}", id="tenants.E004")]
    return [
        Error(f"Refusing to start with APP_ENV=prod: {problem}", hint="docs/security.md", id="tenants.E003")
        for problem in problems
    ]
