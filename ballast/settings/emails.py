"""Email deliveries (emails app): Django's email backends, SMTP in production, files under var/ in dev."""

from __future__ import annotations

from pathlib import Path

from ballast.settings.environment import IS_PROD, env

__all__ = [
    "DEFAULT_FROM_EMAIL",
    "EMAIL_BACKEND",
    "EMAIL_FILE_PATH",
    "EMAIL_HOST",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_HOST_USER",
    "EMAIL_MESSAGE_ID_DOMAIN",
    "EMAIL_PORT",
    "EMAIL_TIMEOUT",
    "EMAIL_USE_TLS",
]

# Production: Django's SMTP backend plus the server's reply to DATA, kept as the provider's message id
# (emails/backends.py). Any Django email backend works; the email.send job classifies its errors.
EMAIL_BACKEND: str = env.str(
    "EMAIL_BACKEND",
    default="ballast.emails.backends.SMTPEmailBackend"
    if IS_PROD
    else "django.core.mail.backends.filebased.EmailBackend",
)
# The file backend of dev and ci writes here (relative to the directory the process starts in).
EMAIL_FILE_PATH: str = env.str("EMAIL_FILE_PATH", default=str(Path("var", "mail").resolve()))
EMAIL_HOST: str = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT: int = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER: str = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD: str = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS: bool = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT: int = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="Ballast <noreply@localhost>")
# The right-hand side of every Message-ID Ballast generates: <delivery-uuid@EMAIL_MESSAGE_ID_DOMAIN>.
EMAIL_MESSAGE_ID_DOMAIN: str = env.str("EMAIL_MESSAGE_ID_DOMAIN", default="ballast.localhost")
