from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ballast.api.idempotency import request_key
from ballast.api.pagination import NewestFirst
from ballast.api.permissions import MANAGER_ROLES
from ballast.api.throttling import QueueProcessThrottle, TenantRateThrottle, TokenRateThrottle
from ballast.api.views import TenantAPIView, credential
from ballast.jobs import operator_actions, selectors, services
from ballast.jobs.serializers import (
    DeadLetterSerializer,
    JobCreateSerializer,
    JobDetailSerializer,
    JobSerializer,
    QueueProcessParams,
    QueueProcessResult,
)
from ballast.jobs.services import client_key
from ballast.jobs.states import JobStatus
from ballast.jobs.worker.processing import process_due_jobs
from ballast.tenants.audit import actor_for_user
from ballast.tenants.models import ApiToken
from ballast.tenants.selectors import tenant_by_slug


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_conflict"


def _choice(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value and value not in choices:
        raise exceptions.ValidationError({name: [f"Must be one of: {', '.join(choices)}."]})
    return value or None


class JobListCreateView(TenantAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(JobStatus.values)),
            OpenApiParameter("job_type", str),
            OpenApiParameter("cursor", str),
        ],
        responses=JobSerializer(many=True),
        summary="The tenant's jobs, newest first (cursor pagination)",
    )
    def get(self, request: Request) -> Response:
        jobs = selectors.jobs_of_current_tenant(
            status=_choice(request, "status", list(JobStatus.values)), job_type=request.query_params.get("job_type")
        )
        paginator = NewestFirst()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(JobSerializer(page, many=True).data)

    @extend_schema(
        request=JobCreateSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={201: JobSerializer, 200: JobSerializer},
        summary="Enqueue a job (201; a repeated Idempotency-Key answers 200 with the same job, 422 if it differs)",
    )
    def post(self, request: Request) -> Response:
        params = JobCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            job = services.enqueue(
                tenant=credential(request).tenant_id,
                idempotency_key=client_key(request_key(request)),
                public_only=True,
                actor=actor_for_user(request.user),
                **params.validated_data,
            )
        except services.IdempotencyConflict as exc:
            raise Unprocessable(str(exc)) from None
        except services.EnqueueError as exc:
            raise exceptions.ValidationError({"payload": [str(exc)]}) from None
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED if job.created else status.HTTP_200_OK)


class JobDetailView(TenantAPIView):
    @extend_schema(responses=JobDetailSerializer, summary="One job, with its attempts and last checkpoint")
    def get(self, request: Request, job_id: int) -> Response:
        job = selectors.job_detail(job_id)
        if job is None:
            raise exceptions.NotFound(f"No job {job_id}.")
        return Response(JobDetailSerializer(job).data)


def _caller(request: Request) -> operator_actions.Caller:
    token = credential(request)
    return operator_actions.Caller(
        actor=actor_for_user(request.user), tenant_id=token.tenant_id, role=token.membership.role
    )


def _operator_action(request: Request, name: str, *, answer_with: int, **target: Any) -> Response:
    """Run the operator action (ops.actions, through jobs.operator_actions) on one of the tenant's jobs and answer
    with the job `answer_with`; 404 if not theirs, 409 if not allowed now."""
    try:
        operator_actions.run(name, caller=_caller(request), **target)
    except operator_actions.TargetNotFound as exc:
        raise exceptions.NotFound(str(exc)) from None
    except operator_actions.ActionRefused as exc:
        raise Conflict(str(exc)) from None
    return Response(JobSerializer(get_object_or_404(selectors.jobs_of_current_tenant(), pk=answer_with)).data)


class JobCancelView(TenantAPIView):
    @extend_schema(request=None, responses=JobSerializer, summary="Cancel a queued job; ask a running one to stop")
    def post(self, request: Request, job_id: int) -> Response:
        return _operator_action(request, operator_actions.CANCEL_JOB, answer_with=job_id, job_id=job_id)


class JobRetryView(TenantAPIView):
    @extend_schema(request=None, responses=JobSerializer, summary="Run a failed or cancelled job again (409 otherwise)")
    def post(self, request: Request, job_id: int) -> Response:
        return _operator_action(request, operator_actions.RETRY_JOB, answer_with=job_id, job_id=job_id)


class DeadLetterListView(TenantAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["recorded", "replayed"])],
        responses=DeadLetterSerializer(many=True),
        summary="The tenant's dead letters, newest first",
    )
    def get(self, request: Request) -> Response:
        letters = selectors.dead_letters_of_current_tenant(status=_choice(request, "status", ["recorded", "replayed"]))
        paginator = NewestFirst()
        page = paginator.paginate_queryset(letters, request, view=self)
        return paginator.get_paginated_response(DeadLetterSerializer(page, many=True).data)


class DeadLetterReplayView(TenantAPIView):
    @extend_schema(request=None, responses=JobSerializer, summary="Replay a dead letter: its job runs again")
    def post(self, request: Request, dead_letter_id: int) -> Response:
        letter = get_object_or_404(selectors.dead_letters_of_current_tenant(), pk=dead_letter_id)
        return _operator_action(
            request, operator_actions.REPLAY_DEAD_LETTERS, answer_with=letter.job_id, dead_letter_ids=[dead_letter_id]
        )


class QueueProcessView(APIView):
    """Tenant admins process their own tenant's due jobs; the X-Queue-Secret holder (cron) any tenant's."""

    permission_classes = [AllowAny]  # checked below: either the queue secret or a manager token
    throttle_classes = [QueueProcessThrottle, TokenRateThrottle, TenantRateThrottle]

    def _tenant_id(self, request: Request, params: dict[str, Any]) -> int | None:
        secret = request.headers.get("X-Queue-Secret")
        if secret is not None:
            expected = settings.QUEUE_PROCESS_SECRET
            if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
                raise exceptions.PermissionDenied("Invalid X-Queue-Secret.", code="invalid_queue_secret")
            if "tenant" not in params:
                return None
            tenant = tenant_by_slug(params["tenant"])
            if tenant is None:
                raise exceptions.ValidationError({"tenant": [f"No tenant {params['tenant']!r}."]})
            return tenant.pk
        token = request.auth
        if not isinstance(token, ApiToken):
            raise exceptions.NotAuthenticated()
        if token.membership.role not in MANAGER_ROLES:
            raise exceptions.PermissionDenied("Only a tenant owner or admin may process the queue.")
        if "tenant" in params:
            raise exceptions.ValidationError({"tenant": ["Only the X-Queue-Secret holder may name a tenant."]})
        return token.tenant_id

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("max", int, description="1 to 50 (default 10)"),
            OpenApiParameter("budget_ms", int, description="1 to 10000 (default 5000)"),
            OpenApiParameter("job_type", str),
            OpenApiParameter("tenant", str, description="X-Queue-Secret only"),
            OpenApiParameter("X-Queue-Secret", str, OpenApiParameter.HEADER),
        ],
        responses=QueueProcessResult,
        summary="Process due jobs synchronously, within a time budget",
    )
    def post(self, request: Request) -> Response:
        params = QueueProcessParams(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        tenant_id = self._tenant_id(request, params.validated_data)
        report = process_due_jobs(
            max_jobs=params.validated_data["max"],
            budget_ms=params.validated_data["budget_ms"],
            tenant_id=tenant_id,
            job_type=params.validated_data.get("job_type"),
        )
        return Response(QueueProcessResult(report).data)
