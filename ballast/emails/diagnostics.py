"""Does the configured SMTP server answer? One exchange, as the email backend would open it, and a one-line verdict.

Connects to EMAIL_HOST:EMAIL_PORT (implicit TLS with EMAIL_USE_SSL), says EHLO, upgrades with STARTTLS when
EMAIL_USE_TLS, logs in when EMAIL_HOST_USER is set, and quits: no message is sent. Bounded by
SMTP_CHECK_TIMEOUT_SECONDS (or EMAIL_TIMEOUT when shorter) per step.
"""

from __future__ import annotations

import smtplib
import ssl

from django.conf import settings

SMTP_CHECK_TIMEOUT_SECONDS = 5.0
SMTP_BACKENDS = frozenset({"django.core.mail.backends.smtp.EmailBackend", "ballast.emails.backends.SMTPEmailBackend"})


class SmtpProblem(Exception):
    """The SMTP server cannot take mail as configured; the message says what is wrong, in one line."""


def uses_smtp() -> bool:
    return str(settings.EMAIL_BACKEND) in SMTP_BACKENDS


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
    return f"{error.smtp_code} {' '.join(text.split())}"


def check_smtp_server() -> str:
    """The server's verdict when it can take mail as configured; raises SmtpProblem otherwise."""
    host, port = str(settings.EMAIL_HOST), int(settings.EMAIL_PORT)
    where = f"{host}:{port}"
    timeout = min(SMTP_CHECK_TIMEOUT_SECONDS, float(settings.EMAIL_TIMEOUT or SMTP_CHECK_TIMEOUT_SECONDS))
    use_ssl = bool(getattr(settings, "EMAIL_USE_SSL", False))
    use_tls = bool(settings.EMAIL_USE_TLS)
    user = str(settings.EMAIL_HOST_USER or "")
    steps: list[str] = ["EHLO"]
    try:
        server: smtplib.SMTP
        if use_ssl:
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
    except TimeoutError:
        raise SmtpProblem(f"SMTP server {where} did not answer within {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise SmtpProblem(f"SMTP server {where}: TLS handshake failed (EMAIL_USE_SSL): {exc.reason}") from None
    except smtplib.SMTPConnectError as exc:
        raise SmtpProblem(f"SMTP server {where} refused the session: {_reply(exc)}") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SmtpProblem(f"cannot connect to SMTP server {where}: {reason}") from None
    try:
        code, _ = server.ehlo()
        if code != 250:
            raise SmtpProblem(f"SMTP server {where} rejected EHLO ({code})")
        if use_tls:
            if not server.has_extn("starttls"):
                raise SmtpProblem(f"SMTP server {where} does not offer STARTTLS (EMAIL_USE_TLS is on)")
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
            steps.append("STARTTLS")
        if user:
            if not server.has_extn("auth"):
                raise SmtpProblem(f"SMTP server {where} offers no AUTH, but EMAIL_HOST_USER is set")
            server.login(user, str(settings.EMAIL_HOST_PASSWORD))
            steps.append(f"login as {user}")
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpProblem(f"SMTP server {where} rejected the login of {user}: {_reply(exc)}") from None
    except smtplib.SMTPResponseException as exc:
        raise SmtpProblem(f"SMTP server {where} answered {_reply(exc)} after {', '.join(steps)}") from None
    except ssl.SSLError as exc:
        raise SmtpProblem(f"SMTP server {where}: STARTTLS failed: {exc.reason}") from None
    except TimeoutError:
        raise SmtpProblem(f"SMTP server {where} stopped answering within {timeout:g} s") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpProblem(f"SMTP server {where}: {type(exc).__name__}: {exc}") from None
    finally:
        try:
            server.quit()
        except (smtplib.SMTPException, OSError):
            server.close()
    return f"SMTP server {where} answers ({', '.join(steps)})"
