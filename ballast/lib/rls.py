"""Row-level security for tenant-owned tables: one migration operation, and what checks need to find it."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

POLICY_NAME = "tenant_isolation"
# The same expression in USING and WITH CHECK: rows of other tenants are neither seen nor written.
TENANT_PREDICATE = "{column} = NULLIF(current_setting('app.tenant_id', true), '')::bigint"


class EnableRowLevelSecurity(Operation):
    """`migrations.CreateModel(...)`, then `EnableRowLevelSecurity("model")`: ENABLE + FORCE RLS and the policy."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, tenant_column: str = "tenant_id") -> None:
        self.model_name = model_name
        self.tenant_column = tenant_column

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs = {"tenant_column": self.tenant_column} if self.tenant_column != "tenant_id" else {}
        return (self.__class__.__qualname__, [self.model_name], kwargs)

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass

    def _table(self, app_label: str, state: ProjectState) -> tuple[type[models.Model], str]:
        model = state.apps.get_model(app_label, self.model_name)
        return model, model._meta.db_table

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        model, table = self._table(app_label, to_state)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        for statement in enable_rls_sql(schema_editor.quote_name(table), schema_editor.quote_name(self.tenant_column)):
            schema_editor.execute(statement)

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        model, table = self._table(app_label, from_state)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        quoted = schema_editor.quote_name(table)
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {quoted}")
        schema_editor.execute(f"ALTER TABLE {quoted} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {quoted} DISABLE ROW LEVEL SECURITY")

    def describe(self) -> str:
        return f"Enable and force row-level security on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"rls_{self.model_name.lower()}"


def enable_rls_sql(quoted_table: str, quoted_column: str = '"tenant_id"') -> list[str]:
    predicate = TENANT_PREDICATE.format(column=quoted_column)
    return [
        f"ALTER TABLE {quoted_table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {quoted_table} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {quoted_table}",
        f"CREATE POLICY {POLICY_NAME} ON {quoted_table} FOR ALL USING ({predicate}) WITH CHECK ({predicate})",
    ]


def models_with_rls_migration() -> set[tuple[str, str]]:
    """(app_label, model_name) pairs that some migration on disk protects with EnableRowLevelSecurity."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    protected = set()
    for (app_label, _name), migration in loader.disk_migrations.items():
        for operation in migration.operations:
            if isinstance(operation, EnableRowLevelSecurity):
                protected.add((app_label, operation.model_name.lower()))
    return protected
