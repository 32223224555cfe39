"""Preflight check of email: the configured SMTP server answers, upgrades and authenticates as configured."""

from __future__ import annotations

from django.conf import settings

from ballast.emails.diagnostics import SmtpProblem, check_smtp_server, uses_smtp
from ballast.lib.preflight import CheckFailed, preflight_check


@preflight_check("email", in_readiness=True)
def smtp_server() -> str:
    if not uses_smtp():
        return f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: no SMTP server to check"
    try:
        return check_smtp_server()
    except SmtpProblem as exc:
        raise CheckFailed(str(exc)) from None
