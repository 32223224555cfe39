"""The one pagination of the API: newest first, by an opaque cursor (stable under concurrent inserts).

A list view declares its query as a PageQuery (cursor, page_size and its own filters) and answers
`paginated(...)`; the schema describes the page as `{next, previous, results}` (page_of)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework import exceptions, serializers
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api.serializers import StrictSerializer

_ID = re.compile(r"[0-9]{1,19}")
MAX_ID = 2**63 - 1


class InvalidCursor(exceptions.APIException):
    status_code = 400
    default_code = "invalid_cursor"
    default_detail = "This cursor is not one the API handed out: follow `next` or `previous` of a page."


class PageSizeField(serializers.IntegerField):
    def __init__(self, *, default_size: int, max_size: int) -> None:
        self.default_size = default_size
        super().__init__(
            required=False,
            min_value=1,
            max_value=max_size,
            help_text=f"Items per page, 1 to {max_size} (default {default_size}).",
        )


class PageQuery(StrictSerializer):
    """The query of a list: the cursor of the page and its size. Subclasses add their filters."""

    json_types = False  # query parameters are strings

    cursor = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Opaque: the `cursor` of a page's `next` or `previous` URL. Absent: the newest page.",
    )
    page_size = PageSizeField(default_size=50, max_size=200)


class NewestFirst(CursorPagination):
    """Orders by descending id; `?page_size=` up to `max_page_size`, `?cursor=` from the previous page."""

    ordering = "-id"
    page_size_query_param = "page_size"

    def __init__(self, *, page_size: int = 50, max_page_size: int = 200) -> None:
        self.page_size = page_size
        self.max_page_size = max_page_size

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise InvalidCursor() from None
        # A forged cursor may carry any position: only an id can be compared with the ordering's column.
        position = None if cursor is None or cursor.position is None else str(cursor.position)
        if position is not None and not (_ID.fullmatch(position) and int(position) <= MAX_ID):
            raise InvalidCursor()
        return cursor


def paginated(
    request: Request,
    view: Any,
    queryset: QuerySet[Any],
    render: Callable[[Sequence[Any]], Any],
    query: type[PageQuery] = PageQuery,
) -> Response:
    """The page of `queryset` the request asks for, its items rendered by `render`."""
    field = query._declared_fields["page_size"]
    assert isinstance(field, PageSizeField)
    paginator = NewestFirst(page_size=field.default_size, max_page_size=int(field.max_value or field.default_size))
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(render(page or []))


@functools.cache
def page_of(item: type[serializers.BaseSerializer[Any]]) -> type[serializers.Serializer[Any]]:
    """The schema of a page of `item`s (a serializer for drf-spectacular only)."""
    name = item.__name__.removesuffix("Serializer")
    fields = {
        "next": serializers.URLField(allow_null=True, help_text="The next (older) page; null on the last one."),
        "previous": serializers.URLField(allow_null=True, help_text="The previous (newer) page; null on the first."),
        "results": item(many=True),
        "__module__": __name__,
        "__doc__": f"A page of {name} items, newest first.",
    }
    return type(f"Paginated{name}List", (serializers.Serializer,), fields)
