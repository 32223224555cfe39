"""Django's SMTP backend, keeping the server's reply to DATA: it names the server's id for the message.

A Postfix relay answers "250 2.0.0 Ok: queued as 4F1A2B"; the reply lands on the sent EmailMessage as
`smtp_reply`, and emails.transport turns it into the delivery's provider_message_id. Everything else is
Django's `django.core.mail.backends.smtp.EmailBackend`, unchanged.
"""

from __future__ import annotations

import smtplib
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends import smtp


def _reply_text(code: int, reply: bytes) -> str:
    return f"{code} {reply.decode('utf-8', 'replace')}".strip()


class RecordingSMTP(smtplib.SMTP):
    last_data_reply = ""

    def data(self, msg: Any) -> tuple[int, bytes]:
        code, reply = super().data(msg)
        self.last_data_reply = _reply_text(code, reply)
        return code, reply


class RecordingSMTPSSL(smtplib.SMTP_SSL):
    last_data_reply = ""

    def data(self, msg: Any) -> tuple[int, bytes]:
        code, reply = super().data(msg)
        self.last_data_reply = _reply_text(code, reply)
        return code, reply


class SMTPEmailBackend(smtp.EmailBackend):
    """EMAIL_BACKEND = "ballast.emails.backends.SMTPEmailBackend": Django's SMTP backend plus `message.smtp_reply`."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return RecordingSMTPSSL if self.use_ssl else RecordingSMTP

    def _send(self, email_message: EmailMessage) -> bool:
        sent: bool = super()._send(email_message)  # type: ignore[misc]
        if sent:
            email_message.smtp_reply = getattr(self.connection, "last_data_reply", "")  # type: ignore[attr-defined]
        return sent
