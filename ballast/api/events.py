from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api.pagination import NewestFirst
from ballast.api.views import TenantAPIView
from ballast.outbox import selectors
from ballast.outbox.envelope import to_cloudevent


class EventListView(TenantAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("correlation_id", str), OpenApiParameter("event_type", str)],
        responses=OpenApiTypes.OBJECT,
        summary="The tenant's events as CloudEvents, newest first (cursor pagination)",
    )
    def get(self, request: Request) -> Response:
        events = selectors.events_of_current_tenant(
            correlation_id=request.query_params.get("correlation_id"),
            event_type=request.query_params.get("event_type"),
        )
        paginator = NewestFirst(page_size=100, max_page_size=500)
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(
            [{**to_cloudevent(event), "status": event.status} for event in page or []]
        )


class EventChainView(TenantAPIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The causal tree of the event's correlation")
    def get(self, request: Request, event_id: str) -> Response:
        try:
            parsed = uuid.UUID(event_id)
        except ValueError:
            raise exceptions.ValidationError({"event_id": ["Must be a UUID."]}) from None
        chain = selectors.event_chain(parsed)
        if chain is None:
            raise exceptions.NotFound(f"No event {event_id}.")
        return Response(chain)
