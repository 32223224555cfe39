"""The tenant's e-mail deliveries, read-only: what was sent, to whom, about what, and how it went."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api.pagination import PageQuery, page_of, paginated
from ballast.api.views import TenantAPIView
from ballast.emails import selectors
from ballast.emails.models import DeliveryStatus
from ballast.emails.serializers import EmailDeliverySerializer
from ballast.emails.services import MAX_TYPE_CHARS


class EmailQuery(PageQuery):
    status = serializers.ChoiceField(
        choices=DeliveryStatus.choices, required=False, help_text="Only deliveries in this status."
    )
    type = serializers.CharField(
        required=False, max_length=MAX_TYPE_CHARS, help_text="Only deliveries of this type (`account.welcome`)."
    )


class EmailListView(TenantAPIView):
    query_serializers = {"get": EmailQuery}

    @extend_schema(
        responses=page_of(EmailDeliverySerializer),
        summary="The tenant's e-mail deliveries, newest first (cursor pagination)",
    )
    def get(self, request: Request) -> Response:
        """The tenant's e-mail deliveries, newest first, optionally of one status and one type: each with its
        type, the object it is about, its metadata, recipients, subject, Message-ID, attempts and last error
        (never its body)."""
        deliveries = selectors.deliveries(status=self.query.get("status"), email_type=self.query.get("type"))
        return paginated(
            request, self, deliveries, lambda page: EmailDeliverySerializer(page, many=True).data, EmailQuery
        )


class EmailDetailView(TenantAPIView):
    @extend_schema(responses=EmailDeliverySerializer, summary="One e-mail delivery")
    def get(self, request: Request, delivery_id: int) -> Response:
        """One of the tenant's e-mail deliveries (never its body)."""
        delivery = selectors.delivery_or_none(delivery_id)
        if delivery is None:
            raise exceptions.NotFound(f"No e-mail delivery {delivery_id}.")
        return Response(EmailDeliverySerializer(delivery).data)
