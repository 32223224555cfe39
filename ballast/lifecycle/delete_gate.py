"""The DELETE gate: no code path may DELETE from a high-volume table except through the
bounded-batch helpers (ballast/lib/batched_delete.py) or a statement listed in ALLOWED with its reason.

A static check over the source: SQL strings (`DELETE FROM <table>`) and ORM deletes on the tables' models
(`Model.objects....delete()`, a queryset of them kept in a variable and deleted later, `QuerySet.delete(qs)`).
lifecycle/tests/test_delete_gate.py runs it over the project; retention drops whole partitions instead.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# The high-volume tables and their models: every partitioned table of ballast.lib.partitioned_tables (a test checks).
HIGH_VOLUME_TABLES: dict[str, str] = {
    "jobs_job": "Job",
    "jobs_jobattempt": "JobAttempt",
    "jobs_checkpoint": "Checkpoint",
    "tenants_auditentry": "AuditEntry",
    "outbox_idempotencyrecord": "IdempotencyRecord",
    "outbox_outboxevent": "OutboxEvent",
    "webhooks_webhookdelivery": "WebhookDelivery",
    "emails_emaildelivery": "EmailDelivery",
}

# (path relative to the project root, enclosing function or "*" for the whole file): why it is bounded.
ALLOWED: dict[tuple[str, str], str] = {
    ("ballast/lib/batched_delete.py", "*"): "the bounded-batch helper itself: LIMIT per statement, lock_timeout",
    ("ballast/api/idempotency.py", "release"): "one in-flight record, by primary key and lock token",
    (
        "ballast/outbox/idempotency_records.py",
        "invalidate",
    ): "an operator forgets one key: a row per credential and day",
    ("ballast/outbox/migrations/0003_partition_idempotency_records.py", "keep_one_record_per_key"): (
        "the way back to the plain table keeps one record per key: superseded records of a day or two"
    ),
    ("ballast/lifecycle/convert.py", "_sync_sql"): "the conversion's sync trigger repeats one row's delete on the copy",
    (
        "ballast/lifecycle/dedicated_tenants.py",
        "_sync_sql",
    ): "a period's rebuild: the sync trigger repeats one row's delete on the copy",
    ("ballast/pytest_plugin.py", "truncate_tables"): (
        "a test database's few rows after a test, at most MAX_DELETED_ROWS a table (more are truncated)"
    ),
    ("bench/scale.py", "*"): "a benchmark's own scratch database, dropped afterwards",
    ("bench/outbox_latency.py", "*"): "a benchmark removes its own tenant's few thousand rows",
}

# ORM cascades into a high-volume table: deleting the parent row makes Django (or Postgres) delete its children
# in one unbounded statement. Each known one, with why it is acceptable (lifecycle/tests/test_delete_gate.py).
KNOWN_CASCADES: dict[tuple[str, str], str] = {
    ("jobs_jobattempt", "jobs_job"): "jobs are never deleted row by row (the gate); partitions go whole",
    ("jobs_checkpoint", "jobs_job"): "jobs are never deleted row by row (the gate); partitions go whole",
    ("webhooks_webhookdelivery", "webhooks_webhookendpoint"): (
        "deleting an endpoint removes its deliveries in one statement: bounded by one endpoint's history, "
        "which retention keeps to RETENTION_WEBHOOK_DELIVERIES_DAYS (30 by default; deliveries are partitioned "
        "by month); an endpoint with millions of retained deliveries would need it batched"
    ),
}


def cascades_into_high_volume() -> set[tuple[str, str]]:
    """(child table, parent table) for every CASCADE foreign key whose child is a high-volume table."""
    from django.apps import apps
    from django.db import models

    found = set()
    for model in apps.get_models():
        if model._meta.db_table not in HIGH_VOLUME_TABLES:
            continue
        for field in model._meta.concrete_fields:
            remote = getattr(field, "remote_field", None)
            if field.many_to_one and remote is not None and remote.on_delete is models.CASCADE:
                found.add((model._meta.db_table, field.related_model._meta.db_table))  # type: ignore[union-attr]
    return found


SKIPPED_PARTS = {".venv", "node_modules", "tests", "__pycache__", "var", "static", "templates"}
SQL_DELETE = re.compile(r"\bDELETE\s+FROM\s+(?:ONLY\s+)?\"?([A-Za-z_][A-Za-z0-9_]*)\"?", re.IGNORECASE)


DYNAMIC_DELETE = re.compile(r"\bDELETE\s+FROM\s+(?:ONLY\s+)?\{\}", re.IGNORECASE)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    function: str
    table: str
    how: str  # "sql" or "orm"

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}(): {self.how} DELETE on {self.table}"


class _Finder(ast.NodeVisitor):
    def __init__(self, path: str, tables: dict[str, str]) -> None:
        self.path = path
        self.tables = tables
        self.models = {model: table for table, model in tables.items()}
        self.function = "<module>"
        self.variables: dict[str, str] = {}  # name -> table, per function
        self.found: list[Violation] = []

    def _table_of(self, node: ast.AST) -> str | None:
        for child in ast.walk(node):
            if isinstance(child, ast.Name):
                if child.id in self.models:
                    return self.models[child.id]
                if child.id in self.variables:
                    return self.variables[child.id]
            elif isinstance(child, ast.Attribute) and child.attr in self.models:
                return self.models[child.attr]
        return None

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, outer_variables = self.function, self.variables
        self.function, self.variables = node.name, {}
        self.generic_visit(node)
        self.function, self.variables = outer, outer_variables

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Assign(self, node: ast.Assign) -> None:
        table = self._table_of(node.value)
        if table is not None:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.variables[target.id] = table
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            for match in SQL_DELETE.finditer(node.value):
                table = match.group(1).lower()
                if table in self.tables:
                    self.found.append(Violation(self.path, node.lineno, self.function, table, "sql"))

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        """An f-string whose DELETE names its table at run time: a violation unless allow-listed."""
        text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)  # type: ignore[misc]
        if DYNAMIC_DELETE.search(text):
            self.found.append(Violation(self.path, node.lineno, self.function, "<dynamic>", "sql"))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in {"delete", "_raw_delete"}:
            # QuerySet.delete(qs) names its queryset in the arguments; qs.delete() in the receiver.
            unbound = isinstance(func.value, ast.Name) and func.value.id == "QuerySet"
            table = self._table_of(ast.Tuple(elts=list(node.args)) if unbound else func.value)
            if table is not None:
                self.found.append(Violation(self.path, node.lineno, self.function, table, "orm"))
        self.generic_visit(node)


def check_source(source: str, *, path: str, tables: dict[str, str] | None = None) -> list[Violation]:
    """Violations in one module's source, before the allow-list."""
    finder = _Finder(path, tables or HIGH_VOLUME_TABLES)
    finder.visit(ast.parse(source, filename=path))
    return finder.found


def python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if not SKIPPED_PARTS.intersection(path.relative_to(root).parts):
            yield path


def allowed(violation: Violation, allow: dict[tuple[str, str], str] | None = None) -> bool:
    rules = ALLOWED if allow is None else allow
    return (violation.path, violation.function) in rules or (violation.path, "*") in rules


def violations(root: Path, *, files: Iterable[Path] | None = None) -> list[Violation]:
    """Every DELETE on a high-volume table under `root` outside the allow-list."""
    found = []
    for path in files if files is not None else python_files(root):
        relative = path.relative_to(root).as_posix()
        found += [v for v in check_source(path.read_text(), path=relative) if not allowed(v)]
    return found
