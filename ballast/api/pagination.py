"""The one pagination of the API: newest first, by an opaque cursor (stable under concurrent inserts)."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirst(CursorPagination):
    """Orders by descending id; `?page_size=` up to `max_page_size`, `?cursor=` from the previous page."""

    ordering = "-id"
    page_size_query_param = "page_size"

    def __init__(self, *, page_size: int = 50, max_page_size: int = 200) -> None:
        self.page_size = page_size
        self.max_page_size = max_page_size
