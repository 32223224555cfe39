"""gunicorn's access log without credentials: `logger_class` in config/gunicorn.py."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from ballast.lib.log_redaction import redact


class RedactingLogger(Logger):
    """Every atom of the access-log line (request line, path, query, referer, headers) with download tokens and
    presigned signatures redacted."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {name: redact(value) if isinstance(value, str) else value for name, value in atoms.items()}
