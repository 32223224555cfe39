from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api import idempotency
from ballast.api.pagination import PageQuery, page_of, paginated
from ballast.api.views import TenantAPIView
from ballast.tenants.audit import actor_for_user
from ballast.webhooks import selectors, services
from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint
from ballast.webhooks.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointWriteSerializer,
    created_data,
)
from ballast.webhooks.ssrf import UnsafeURL


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = selectors.endpoint_or_none(endpoint_id)
    if endpoint is None:
        raise exceptions.NotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


class EndpointLimit(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "webhook_endpoint_limit"


def _refused_url(exc: UnsafeURL) -> exceptions.ValidationError:
    return exceptions.ValidationError({"url": [str(exc)]})


class DeliveryQuery(PageQuery):
    status = serializers.ChoiceField(
        choices=WebhookDelivery.Status.choices, required=False, help_text="Only deliveries in this status."
    )


class WebhookListCreateView(TenantAPIView):
    """Webhook endpoints receive the tenant's events, signed per Standard Webhooks (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`). The URL must resolve to public addresses only."""

    @extend_schema(responses=WebhookEndpointSerializer(many=True), summary="The tenant's webhook endpoints")
    def get(self, request: Request) -> Response:
        """Every webhook endpoint of the tenant (at most WEBHOOK_MAX_ENDPOINTS_PER_TENANT), never a secret."""
        return Response(WebhookEndpointSerializer(selectors.endpoints_of_current_tenant(), many=True).data)

    @extend_schema(
        request=WebhookEndpointWriteSerializer,
        responses={
            201: WebhookEndpointCreatedSerializer,
            409: OpenApiResponse(
                description="The tenant has WEBHOOK_MAX_ENDPOINTS_PER_TENANT endpoints already "
                "(`webhook-endpoint-limit`), or the Idempotency-Key is in use (`idempotency-in-flight`)."
            ),
        },
        summary="Create an endpoint; the response shows its signing secret, once",
    )
    def post(self, request: Request) -> Response:
        """Creates an endpoint for the event types given (`*`, `job.succeeded`, `job.*`); the response holds its
        signing secret, which is never shown again. The URL must be http(s) and resolve to public addresses
        (400 `invalid` under `url` otherwise)."""
        params = WebhookEndpointWriteSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            created = services.create_endpoint(actor=actor_for_user(request.user), **params.validated_data)
        except UnsafeURL as exc:
            raise _refused_url(exc) from None
        except services.EndpointLimitReached as exc:
            raise EndpointLimit(str(exc)) from None
        response = Response(created_data(created.endpoint, created.secret), status=status.HTTP_201_CREATED)
        # The secret is shown once: a replay of this request (same Idempotency-Key) shows it redacted.
        replay = JSONRenderer().render(created_data(created.endpoint, None))
        setattr(response, idempotency.REPLAY_BODY_ATTRIBUTE, replay)
        return response


class WebhookDetailView(TenantAPIView):
    """One webhook endpoint. Viewers read; members and above change it."""

    @extend_schema(responses=WebhookEndpointSerializer, summary="One endpoint (never its secret)")
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(WebhookEndpointSerializer(_endpoint(endpoint_id)).data)

    def _update(self, request: Request, endpoint_id: int, *, partial: bool) -> Response:
        endpoint = _endpoint(endpoint_id)
        params = WebhookEndpointWriteSerializer(data=request.data, partial=partial)
        params.is_valid(raise_exception=True)
        try:
            endpoint = services.update_endpoint(
                endpoint=endpoint, changes=dict(params.validated_data), actor=actor_for_user(request.user)
            )
        except UnsafeURL as exc:
            raise _refused_url(exc) from None
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        request=WebhookEndpointWriteSerializer,
        responses=WebhookEndpointSerializer,
        summary="Replace an endpoint's settings (missing fields take their defaults)",
    )
    def put(self, request: Request, endpoint_id: int) -> Response:
        return self._update(request, endpoint_id, partial=False)

    @extend_schema(
        request=WebhookEndpointWriteSerializer,
        responses=WebhookEndpointSerializer,
        summary="Change some of an endpoint's settings; enabling it starts a fresh failure streak",
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        return self._update(request, endpoint_id, partial=True)

    @extend_schema(responses={204: None}, summary="Delete an endpoint and its deliveries")
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.delete_endpoint(endpoint=_endpoint(endpoint_id), actor=actor_for_user(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListView(TenantAPIView):
    """Deliveries of one endpoint: attempts, the next attempt's time, the last response (status and the first
    KiB of its body) or error. Retries follow 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10 %, or later when
    the receiver sends Retry-After)."""

    query_serializers = {"get": DeliveryQuery}

    @extend_schema(
        responses=page_of(WebhookDeliverySerializer),
        summary="An endpoint's deliveries, newest first (cursor pagination)",
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = _endpoint(endpoint_id)
        deliveries = selectors.deliveries_of_endpoint(endpoint.pk, status=self.query.get("status"))
        return paginated(
            request, self, deliveries, lambda page: WebhookDeliverySerializer(page, many=True).data, DeliveryQuery
        )
