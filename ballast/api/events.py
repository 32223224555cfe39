from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api.pagination import PageQuery, PageSizeField, page_of, paginated
from ballast.api.serializers import JSONObjectField
from ballast.api.views import TenantAPIView
from ballast.outbox import selectors
from ballast.outbox.envelope import to_cloudevent
from ballast.outbox.models import OutboxEvent


class EventQuery(PageQuery):
    page_size = PageSizeField(default_size=100, max_size=500)
    correlation_id = serializers.CharField(required=False, max_length=64, help_text="Only this correlation's events.")
    event_type = serializers.CharField(required=False, max_length=100, help_text="Only events of this type.")


class CloudEventSerializer(serializers.Serializer[dict[str, object]]):
    """An event as a CloudEvent (JSON format), with Ballast's extension attributes."""

    specversion = serializers.CharField()
    id = serializers.UUIDField()
    type = serializers.CharField()
    subject = serializers.CharField()
    time = serializers.DateTimeField()
    datacontenttype = serializers.CharField()
    tenantid = serializers.CharField()
    actor = serializers.CharField(allow_blank=True)
    eventversion = serializers.CharField()
    correlationid = serializers.CharField(required=False)
    causationid = serializers.CharField(required=False)
    traceparent = serializers.CharField(required=False)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # Fields named "source" and "data" cannot be class attributes: they would hide Field.source and
        # Serializer.data.
        declared = super().get_fields()
        declared["source"] = serializers.CharField()
        declared["data"] = JSONObjectField()
        return declared


class EventSerializer(CloudEventSerializer):
    """A CloudEvent and its delivery status in the outbox."""

    status = serializers.ChoiceField(choices=OutboxEvent.Status.choices)


class ChainNodeSerializer(serializers.Serializer[dict[str, object]]):
    event = CloudEventSerializer()
    parent_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=OutboxEvent.Status.choices)
    children = serializers.ListField(
        child=serializers.DictField(), help_text="The events this one caused, each a node like this one."
    )


class EventChainSerializer(serializers.Serializer[dict[str, object]]):
    correlation_id = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()
    roots = ChainNodeSerializer(many=True)


class EventListView(TenantAPIView):
    query_serializers = {"get": EventQuery}

    @extend_schema(
        responses=page_of(EventSerializer),
        summary="The tenant's events as CloudEvents, newest first (cursor pagination)",
    )
    def get(self, request: Request) -> Response:
        """The tenant's events, newest first, optionally of one correlation or one type; each with the
        outbox's delivery status."""
        events = selectors.events_of_current_tenant(
            correlation_id=self.query.get("correlation_id"), event_type=self.query.get("event_type")
        )
        return paginated(
            request,
            self,
            events,
            lambda page: [{**to_cloudevent(event), "status": event.status} for event in page],
            EventQuery,
        )


class EventChainView(TenantAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("event_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses=EventChainSerializer,
        summary="The causal tree of the event's correlation",
    )
    def get(self, request: Request, event_id: str) -> Response:
        """Every event of the event's correlation as a tree: each node's children are the events it caused."""
        try:
            parsed = uuid.UUID(event_id)
        except ValueError:
            raise exceptions.ValidationError({"event_id": ["Must be a UUID."]}) from None
        chain = selectors.event_chain(parsed)
        if chain is None:
            raise exceptions.NotFound(f"No event {event_id}.")
        return Response(chain)
