"""Handing one delivery to the configured email backend (EMAIL_BACKEND), and what its errors mean.

Three outcomes, told apart by where the error arose and what the server said:
- accepted: send_messages returned; the provider's id, when the backend knows one, is returned;
- NotAccepted: the server answered no (an SMTP reply: 5xx permanent, 4xx transient), the connection could
  not be opened, or the message cannot be built. The server holds nothing: sending again cannot duplicate;
- OutcomeUnknown: the conversation broke without an answer (disconnect, timeout, the job's deadline): the
  server may or may not have accepted the message.
"""

from __future__ import annotations

import logging
import re
import smtplib
from email.utils import format_datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.message import sanitize_address

from ballast.emails.models import EmailDelivery

logger = logging.getLogger(__name__)

QUEUED_AS = re.compile(r"queued as ([\w.\-]+)", re.IGNORECASE)


class NotAccepted(Exception):
    """The server did not take the message. `permanent`: sending it again will be refused again. `unreachable`:
    no conversation took place (connect, TLS or login failed): a transport error, not a refusal of the message."""

    def __init__(
        self, message: str, *, permanent: bool, smtp_code: int | None = None, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.smtp_code = smtp_code
        self.unreachable = unreachable

    @property
    def outcome(self) -> str:
        """The delivery outcome it counts as (metrics and spans): transport_error or rejected."""
        return "transport_error" if self.unreachable else "rejected"


class OutcomeUnknown(Exception):
    """The conversation with the server broke off; it may have accepted the message."""


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def build_message(delivery: EmailDelivery, connection: Any = None) -> EmailMessage:
    """The same message on every attempt: the stored Message-ID, and the creation time as its Date."""
    return EmailMessage(
        subject=delivery.subject,
        body=delivery.body,
        from_email=delivery.from_email,
        to=list(delivery.recipients),
        headers={"Message-ID": delivery.message_id, "Date": format_datetime(delivery.created_at)},
        connection=connection,
    )


def _smtp_verdict(exc: Exception) -> NotAccepted | None:
    """An SMTP reply refusing the message, classified by its code; None if the error carries no reply."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in exc.recipients.values()]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        code = max(codes) if permanent else min(codes, default=None)
        refusals = "; ".join(
            f"{address}: {refused_code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
            for address, (refused_code, text) in exc.recipients.items()
        )
        return NotAccepted(f"SMTPRecipientsRefused: {refusals}", permanent=permanent, smtp_code=code)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = int(exc.smtp_code)
        if 400 <= code < 600:
            return NotAccepted(describe(exc), permanent=code >= 500, smtp_code=code)
    return None


def provider_message_id(message: EmailMessage) -> str:
    """The provider's id for an accepted message, if the backend reported one ('' otherwise)."""
    status = getattr(message, "anymail_status", None)  # django-anymail's HTTP API backends
    if status is not None and getattr(status, "message_id", None):
        return str(status.message_id)[:255]
    reply: str = getattr(message, "smtp_reply", "")  # emails.backends.SMTPEmailBackend
    match = QUEUED_AS.search(reply)
    return (match.group(1) if match else reply)[:255]


def transmit(delivery: EmailDelivery) -> str:
    """Send the delivery once through EMAIL_BACKEND; the provider's id ('' if unknown).

    Raises NotAccepted or OutcomeUnknown (module docstring). Never retries by itself.
    """
    connection = get_connection(fail_silently=False)
    message = build_message(delivery, connection)
    try:
        # Everything that can be refused before a byte goes out: headers, addresses.
        message.message()
        for address in [message.from_email, *message.recipients()]:
            sanitize_address(address, message.encoding or settings.DEFAULT_CHARSET)
    except (ValueError, TypeError) as exc:  # BadHeaderError, an address Django cannot encode
        raise NotAccepted(f"The message cannot be built: {describe(exc)}", permanent=True) from exc
    try:
        connection.open()
    except Exception as exc:
        # Connect, TLS and login: nothing about this message was said. Retried, even on 5xx (e.g. bad
        # credentials): that is the configuration's fault, and fixing it must let the email through.
        raise NotAccepted(
            f"Cannot open the email connection: {describe(exc)}", permanent=False, unreachable=True
        ) from exc
    try:
        try:
            sent = connection.send_messages([message])
        except Exception as exc:
            verdict = _smtp_verdict(exc)
            if verdict is not None:
                raise verdict from exc
            raise OutcomeUnknown(describe(exc)) from exc
        if not sent:
            raise NotAccepted("The email backend sent nothing", permanent=True)
        return provider_message_id(message)
    finally:
        # After an acceptance nothing may turn it into a failure: QUIT errors (even the job's deadline) are logged.
        try:
            connection.close()
        except Exception:
            logger.warning("closing the email connection failed", exc_info=True)
