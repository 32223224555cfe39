from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator


def test_the_openapi_schema_is_valid_and_generates_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), "--skip-checks")

    text = target.read_text()
    for path in ("/api/v1/jobs:", "/api/v1/webhooks:", "/api/v1/events:", "/api/v1/me:"):
        assert path in text


def _schema() -> dict[str, Any]:
    generator = SchemaGenerator()
    return generator.get_schema(request=None, public=True)


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_operation_has_its_own_description_and_a_resource_tag() -> None:
    schema = _schema()
    tags = {tag["name"] for tag in schema["tags"]}

    for path, method, operation in _operations(schema):
        label = f"{method.upper()} {path}"
        assert operation.get("description"), label
        assert "Put first" not in operation["description"], label
        assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, label
    assert {"jobs", "dead letters", "queue", "webhooks", "uploads", "documents", "account", "events"} <= tags
    assert "v1" not in tags


def test_list_operations_answer_a_page_envelope_and_document_page_size() -> None:
    schema = _schema()
    components = schema["components"]["schemas"]
    lists = [
        (path, operation)
        for path, method, operation in _operations(schema)
        if method == "get" and any(p["name"] == "cursor" for p in operation.get("parameters", []))
    ]

    assert len(lists) == 10
    for path, operation in lists:
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        envelope = components[ref.rsplit("/", 1)[1]]
        assert set(envelope["properties"]) == {"next", "previous", "results"}, path
        assert envelope["properties"]["results"]["type"] == "array", path
        page_size = next(p for p in operation["parameters"] if p["name"] == "page_size")
        assert page_size["schema"]["minimum"] == 1 and page_size["schema"]["maximum"] >= 200, path


def test_every_operation_describes_its_problems_as_problem_json() -> None:
    schema = _schema()
    assert "Problem" in schema["components"]["schemas"]

    for path, method, operation in _operations(schema):
        label = f"{method.upper()} {path}"
        responses = operation["responses"]
        assert {"400", "401", "403", "406", "429"} <= set(responses), label
        if "{" in path:
            assert "404" in responses, label
        if "requestBody" in operation:
            assert {"413", "415"} <= set(responses), label
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (label, status)
                assert response["description"], (label, status)


def test_a_job_is_created_with_a_known_type_and_a_payload_that_fits_it() -> None:
    components = _schema()["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        return components[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema

    request = components["JobCreateRequest"]
    variants = [resolve(ref) for ref in request["oneOf"]]
    by_type = {resolve(variant["properties"]["job_type"])["enum"][0]: variant for variant in variants}

    assert set(request["required"]) == {"job_type", "payload"}
    assert set(request["discriminator"]["mapping"]) == set(by_type)
    echo = by_type["diagnostics.echo"]
    assert echo["properties"]["payload"]["type"] == "object"
    assert echo["properties"]["payload"]["required"] == ["value"]
    assert echo["additionalProperties"] is False
    assert components["Job"]["properties"]["payload"]["type"] == "object"
