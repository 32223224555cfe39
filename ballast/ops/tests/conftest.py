"""Operators (staff users with and without the ops permissions) and console data: jobs of two tenants and
several types, a dead letter, an open alert, upload intents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from ballast.emails.tests.conftest import mailbox, smtp  # noqa: F401  (fixtures)
from ballast.jobs.models import DeadLetter, Job
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import other_tenant, redis, tenant  # noqa: F401  (fixtures)
from ballast.jobs.worker.processing import process_due_jobs
from ballast.ops.models import Alert
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant
from ballast.uploads import keys
from ballast.uploads.models import UploadIntent
from ballast.uploads.tests.conftest import local_storage, uploads_root, web_server  # noqa: F401  (fixtures)
from ballast.webhooks.tests.conftest import private_networks, receiver  # noqa: F401  (fixtures)

PASSWORD = "ops-test-password"


def staff(username: str, *codenames: str, is_staff: bool = True) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, is_staff=is_staff)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="ops", codename__in=codenames))
    return User.objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def operator(committed: None) -> User:
    return staff("operator", "view_console", "operate_queue", "operate_uploads")


@pytest.fixture
def reader(committed: None) -> User:
    return staff("reader", "view_console")


@pytest.fixture
def outsider(committed: None) -> User:
    return staff("outsider", is_staff=False)


@dataclass
class ConsoleData:
    tenant: Tenant
    other: Tenant
    due: list[Job]
    dead_letter: DeadLetter
    alert: Alert
    abandoned_intent: UploadIntent


def expired_intent(owner: Tenant, *, size: int = 1234) -> UploadIntent:
    """An intent abandoned two days ago (past expiry and grace); its upload never arrived."""
    key = keys.tmp_key(owner.pk, uuid.uuid4())
    with tenant_scope(owner.pk):
        intent = UploadIntent.objects.create(
            tenant_id=owner.pk,
            kind=UploadIntent.Kind.RELAY,
            filename="abandoned.pdf",
            content_type="application/pdf",
            size=size,
            storage_key=key,
            expires_at=timezone.now() - timedelta(days=2),
            actor="user:someone",
        )
    return intent


def seed(owner: Tenant, other: Tenant) -> ConsoleData:
    due = [enqueue(tenant=owner, job_type="diagnostics.echo", payload={"value": i}) for i in range(3)]
    due += [enqueue(tenant=other, job_type="diagnostics.echo", payload={"value": 9})]
    enqueue(tenant=other, job_type="diagnostics.fail", payload={"message": "boom"}, max_attempts=1)
    process_due_jobs(max_jobs=1, budget_ms=5000, job_type="diagnostics.fail")
    dead_letter = DeadLetter.objects.unscoped().get()
    alert = Alert.objects.using("system").create(
        rule="oldest_due", subject="default", title="Oldest due job is 10 min old"
    )
    intent = expired_intent(owner)
    return ConsoleData(owner, other, due, dead_letter, alert, intent)


@pytest.fixture
def data(tenant: Tenant, other_tenant: Tenant, local_storage: Path) -> ConsoleData:  # noqa: F811
    return seed(tenant, other_tenant)
