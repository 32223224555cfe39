"""A real SMTP server (aiosmtpd) on 127.0.0.1 and an unused port, and the settings that point at it."""

from __future__ import annotations

import email
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction

from ballast.emails.models import EmailDelivery
from ballast.emails.services import send_email
from ballast.jobs.tests.conftest import other_tenant, processes, redis, spans, tenant  # noqa: F401  (fixtures)
from ballast.jobs.worker.run import run_now
from ballast.tenants.models import Tenant


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what the server accepted; scripted replies make it refuse."""

    accepted: list[Message] = field(default_factory=list)
    # Replies to use instead of accepting, consumed one per message (None: accept).
    rcpt_replies: list[str | None] = field(default_factory=list)
    data_replies: list[str | None] = field(default_factory=list)
    accept_reply: str = "250 Message accepted for delivery"
    # Called once the message is stored, before the server answers 250.
    on_accept: Callable[[], None] | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_replies:
            reply = self.rcpt_replies.pop(0)
            if reply is not None:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            reply = self.data_replies.pop(0)
            if reply is not None:
                return reply
        message = email.message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.accepted.append(message)
        if self.on_accept is not None:
            self.on_accept()
        return self.accept_reply

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.accepted]


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=unused_port())
    controller.start()
    box.port = controller.port  # type: ignore[attr-defined]
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def smtp(mailbox: Mailbox, settings: Any) -> Mailbox:
    """Django's SMTP backend, pointed at the mailbox; the email rate limiter out of the way."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = mailbox.port  # type: ignore[attr-defined]
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.EMAIL_RATE_PER_MINUTE = 0
    settings.EMAIL_RATE_PER_TENANT_PER_MINUTE = 0
    return mailbox


def new_delivery(owner: Tenant, **overrides: Any) -> EmailDelivery:
    arguments: dict[str, Any] = {
        "to": ["ada@example.com"],
        "subject": "Your report is ready",
        "body": "Hello Ada,\nthe report is attached.\n",
        **overrides,
    }
    with transaction.atomic():
        return send_email(tenant=owner, **arguments)


def run_job(tenant_id: int, job_id: int | None) -> dict[str, int]:
    assert job_id is not None
    return run_now(job_id).as_dict()
