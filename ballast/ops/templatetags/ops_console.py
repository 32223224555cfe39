"""The consoles' template tags: links and forms that keep every filter of the page, and humanised durations."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import QueryDict
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from ballast.ops.durations import humanise_ms

register = template.Library()

# A page's cursor, dropped whenever a filter changes (the next page of another filter means nothing).
CURSOR = "before"


def _query(context: template.Context) -> QueryDict:
    request = context.get("request")
    return request.GET.copy() if request is not None else QueryDict(mutable=True)


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: Any) -> str:
    """This page's query string with `changes` applied ("" or None removes a key): `?status=failed&tenant=acme`."""
    query = _query(context)
    query.pop(CURSOR, None)
    for key, value in changes.items():
        if value is None or value == "":
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def kept_filters(context: template.Context, *names: str) -> SafeString:
    """Hidden inputs for every parameter of this page's query except `names` (the ones the form itself sets)."""
    skipped = {*names, CURSOR}
    pairs = [(key, value) for key, values in _query(context).lists() if key not in skipped for value in values]
    return format_html_join("", '<input type="hidden" name="{}" value="{}">', pairs)


@register.filter
def duration_ms(value: Any) -> str:
    """Milliseconds, humanised: 782487.8 → "13 min"."""
    return humanise_ms(None if value is None or value == "" else float(value))


@register.filter
def duration_s(value: Any) -> str:
    """Seconds, humanised: 782.5 → "13 min"."""
    return humanise_ms(None if value is None or value == "" else float(value) * 1000)
