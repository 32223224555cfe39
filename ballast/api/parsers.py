"""The API's JSON parser: a body nested deeper than API_MAX_JSON_DEPTH is a 400 (json-too-deep), never a
RecursionError (a 500)."""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser


class JsonTooDeep(exceptions.ParseError):
    default_code = "json_too_deep"


def too_deep() -> JsonTooDeep:
    return JsonTooDeep(f"The JSON body nests deeper than {settings.API_MAX_JSON_DEPTH} levels.")


def deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (a scalar is level 0; `{}` and `[]` level 1)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            if depth > limit:
                return True
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return False


class BoundedJSONParser(JSONParser):
    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep() from None
        if deeper_than(data, settings.API_MAX_JSON_DEPTH):
            raise too_deep()
        return data
