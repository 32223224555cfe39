from __future__ import annotations

from pathlib import Path

from django.core.management import call_command


def test_the_openapi_schema_is_valid_and_generates_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), "--skip-checks")

    text = target.read_text()
    for path in ("/api/v1/jobs:", "/api/v1/webhooks:", "/api/v1/events:", "/api/v1/me:"):
        assert path in text
