from __future__ import annotations

from pathlib import Path

from django.core.management import call_command


def test_the_uploads_api_is_in_the_openapi_schema(tmp_path: Path) -> None:
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), "--skip-checks")

    text = target.read_text()
    for path in (
        "/api/v1/uploads:",
        "/api/v1/uploads/{intent_id}/content:",
        "/api/v1/uploads/{intent_id}/finalize:",
        "/api/v1/documents/{document_id}/purge:",
        "/api/v1/trash:",
    ):
        assert path in text
    assert "UploadStatusEnum" in text and "DocumentStatusEnum" in text
