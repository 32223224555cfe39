"""Serializer bases shared by the API's endpoints."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def _json_type(field: serializers.Field[Any, Any, Any, Any]) -> str | None:
    """The JSON type a field's input must have (None: any)."""
    if isinstance(field, serializers.BooleanField):
        return "boolean"
    if isinstance(field, serializers.IntegerField):
        return "integer"
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return "number"
    if isinstance(field, serializers.ListField):
        return "array"
    if isinstance(field, serializers.DictField):
        return "object"
    if isinstance(field, serializers.ChoiceField):
        return "string" if all(isinstance(choice, str) for choice in field.choices) else None
    if isinstance(field, serializers.CharField | serializers.DateTimeField | serializers.DateField):
        return "string"
    if isinstance(field, serializers.UUIDField):
        return "string"
    return None


def _has_json_type(value: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "array": list, "object": dict}[kind])


_WRONG_TYPE = {
    "boolean": "Must be a valid boolean (true or false), not {type}.",
    "integer": "A valid integer is required, not {type}.",
    "number": "A valid number is required, not {type}.",
    "string": "Not a valid string: got {type}.",
    "array": 'Expected a list of items but got type "{type}".',
    "object": 'Expected a dictionary of items but got type "{type}".',
}


class StrictSerializer(serializers.Serializer[Any]):
    """Rejects fields it does not know, so a typo is a 400, not a silently ignored option. In a JSON body
    (`json_types`), each value must have its field's JSON type: 5 is not a string, "5" not an integer."""

    json_types: ClassVar[bool] = True

    def to_internal_value(self, data: Any) -> Any:
        if self.json_types and isinstance(data, dict):
            wrong: dict[str, list[str]] = {}
            for name, field in self.fields.items():
                kind = _json_type(field)
                value = data.get(name)
                if kind is None or value is None:
                    continue
                if not _has_json_type(value, kind):
                    wrong[name] = [_WRONG_TYPE[kind].format(type=type(value).__name__)]
                elif kind == "array" and isinstance(field, serializers.ListField):
                    item_kind = _json_type(field.child)
                    if item_kind and not all(_has_json_type(item, item_kind) for item in value):
                        wrong[name] = [f"Expected a list of JSON {item_kind} items."]
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (not an array, string or number)."""

    default_error_messages = {"not_an_object": "Must be a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            self.fail("not_an_object")
        return value


class ProblemSerializer(serializers.Serializer[Any]):
    """An RFC 9457 problem details document (application/problem+json); docs/api-problems.md lists its types."""

    type = serializers.CharField(help_text="https://ballast.dev/problems/<slug>: what kind of problem this is.")
    title = serializers.CharField(help_text="The status's short name.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="What went wrong with this request, for a person to read.")
    code = serializers.CharField(required=False, help_text="A stable machine-readable code (the type's slug, with _).")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # A field named "errors" cannot be a class attribute: it would hide Serializer.errors.
        declared = super().get_fields()
        declared["errors"] = serializers.DictField(
            required=False,
            child=serializers.JSONField(),
            help_text="`invalid` only: the messages of each offending field, query parameter or header.",
        )
        return declared
