from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ballast.api.idempotency import request_key
from ballast.api.pagination import PageQuery, page_of, paginated
from ballast.api.permissions import MANAGER_ROLES, IsTenantManager, IsTenantMember
from ballast.api.throttling import QueueProcessThrottle, TenantRateThrottle, TokenRateThrottle
from ballast.api.views import ApiRequestMixin, TenantAPIView, credential
from ballast.jobs import actions, schedules, selectors, services
from ballast.jobs.models import Schedule
from ballast.jobs.serializers import (
    DeadLetterQuery,
    DeadLetterSerializer,
    JobCreateSerializer,
    JobDetailSerializer,
    JobListQuery,
    JobSerializer,
    QueueProcessParams,
    QueueProcessResult,
    ScheduleChangeSerializer,
    ScheduleCreateSerializer,
    ScheduleSerializer,
    trigger_quotas,
)
from ballast.jobs.services import client_key
from ballast.jobs.worker.processing import TriggerRules, process_due_jobs
from ballast.tenants.audit import actor_for_user
from ballast.tenants.models import ApiToken
from ballast.tenants.selectors import tenant_by_slug


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_conflict"


class JobListCreateView(TenantAPIView):
    query_serializers = {"get": JobListQuery}

    @extend_schema(responses=page_of(JobSerializer), summary="The tenant's jobs, newest first (cursor pagination)")
    def get(self, request: Request) -> Response:
        """The tenant's jobs, newest first, optionally only those in one status or of one type."""
        jobs = selectors.jobs_of_current_tenant(status=self.query.get("status"), job_type=self.query.get("job_type"))
        return paginated(request, self, jobs, lambda page: JobSerializer(page, many=True).data, JobListQuery)

    @extend_schema(
        request=JobCreateSerializer,
        responses={
            201: JobSerializer,
            200: JobSerializer,
            422: OpenApiResponse(
                description="The Idempotency-Key names a job of another type or payload (`idempotency-conflict`), "
                "or was used for another request (`idempotency-key-reused`)."
            ),
        },
        summary="Enqueue a job (201; a repeated Idempotency-Key answers 200 with the same job, 422 if it differs)",
    )
    def post(self, request: Request) -> Response:
        """Enqueues a job of a type clients may enqueue, its payload checked against the type's schema; it runs
        at `run_at` (default now). With an Idempotency-Key, a repeat answers the same job. With `after` (one of
        the tenant's jobs) it is created `waiting` and runs once that job succeeded."""
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
            raise exceptions.ValidationError({exc.field: [str(exc)]}) from None
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED if job.created else status.HTTP_200_OK)


class JobDetailView(TenantAPIView):
    @extend_schema(responses=JobDetailSerializer, summary="One job, with its attempts and last checkpoint")
    def get(self, request: Request, job_id: int) -> Response:
        """One of the tenant's jobs, with every attempt (outcome, error, duration) and its last checkpoint."""
        job = selectors.job_detail(job_id)
        if job is None:
            raise exceptions.NotFound(f"No job {job_id}.")
        return Response(JobDetailSerializer(job).data)


def _operator(request: Request) -> actions.Operator:
    """A token acts on its own tenant's jobs of public types only (IsTenantMember has refused viewers' writes)."""
    return actions.Operator(actor=actor_for_user(request.user), tenant_id=credential(request).tenant_id)


def _acted(request: Request, run: Callable[[actions.Operator], actions.Outcome], *, answer_with: int) -> Response:
    """Run the operation as the token's operator and answer with the job `answer_with`; 404 if not one the token
    may see, 409 if not allowed now."""
    try:
        run(_operator(request))
    except actions.TargetNotFound as exc:
        raise exceptions.NotFound(str(exc)) from None
    except actions.ActionRefused as exc:
        raise Conflict(str(exc)) from None
    return Response(JobSerializer(get_object_or_404(selectors.jobs_of_current_tenant(), pk=answer_with)).data)


class JobCancelView(TenantAPIView):
    @extend_schema(
        request=None,
        responses={200: JobSerializer, 409: OpenApiResponse(description="The job has finished (`conflict`).")},
        summary="Cancel a queued job; ask a running one to stop",
    )
    def post(self, request: Request, job_id: int) -> Response:
        """A queued job is cancelled at once; a running one is asked to stop (`cancel_requested`) and stops at
        its next checkpoint. Answers the job."""
        return _acted(request, lambda by: actions.cancel_job(by=by, job_id=job_id), answer_with=job_id)


class JobRetryView(TenantAPIView):
    @extend_schema(
        request=None,
        responses={
            200: JobSerializer,
            409: OpenApiResponse(description="The job is neither failed nor cancelled (`conflict`)."),
        },
        summary="Run a failed or cancelled job again (409 otherwise)",
    )
    def post(self, request: Request, job_id: int) -> Response:
        """Queues a failed or cancelled job again, with a fresh set of attempts. Answers the job."""
        return _acted(request, lambda by: actions.retry_job(by=by, job_id=job_id), answer_with=job_id)


class DeadLetterListView(TenantAPIView):
    query_serializers = {"get": DeadLetterQuery}

    @extend_schema(responses=page_of(DeadLetterSerializer), summary="The tenant's dead letters, newest first")
    def get(self, request: Request) -> Response:
        """Jobs that ran out of attempts (or were dead-lettered by an operator), newest first, optionally only
        those recorded or replayed."""
        letters = selectors.dead_letters_of_current_tenant(status=self.query.get("status"))
        return paginated(
            request, self, letters, lambda page: DeadLetterSerializer(page, many=True).data, DeadLetterQuery
        )


class DeadLetterReplayView(TenantAPIView):
    @extend_schema(
        request=None,
        responses={
            200: JobSerializer,
            409: OpenApiResponse(description="The dead letter was replayed already (`conflict`)."),
        },
        summary="Replay a dead letter: its job runs again",
    )
    def post(self, request: Request, dead_letter_id: int) -> Response:
        """Marks the dead letter replayed and queues its job again. Answers the job."""
        letter = get_object_or_404(selectors.dead_letters_of_current_tenant(), pk=dead_letter_id)
        return _acted(
            request,
            lambda by: actions.replay_dead_letters(by=by, dead_letter_ids=[dead_letter_id]),
            answer_with=letter.job_id,
        )


class QueueProcessView(ApiRequestMixin, APIView):
    """Tenant admins process their own tenant's due jobs; the X-Queue-Secret holder (cron) any tenant's."""

    query_serializers = {"post": QueueProcessParams}
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
            raise exceptions.PermissionDenied("Only the X-Queue-Secret holder may name a tenant.")
        return token.tenant_id

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter(
                "X-Queue-Secret", str, OpenApiParameter.HEADER, description="The cron's secret (QUEUE_PROCESS_SECRET)."
            ),
        ],
        responses=QueueProcessResult,
        summary="Process due jobs synchronously, within a time budget",
    )
    def post(self, request: Request) -> Response:
        """Runs up to `max` due jobs (one by default) in this request, within `budget_ms`, and reports what
        happened: a tenant admin's token processes its own tenant's jobs, X-Queue-Secret any tenant's (or one,
        with `tenant`). A job starts only if its type's synchronous bound (sync_timeout) fits in the budget
        left, and runs under it; types without one are left to the workers. `mode=balanced` (the default) runs
        maintenance jobs first and at most `emailMax`, `cleanupMax` and `auditMax` jobs of each class;
        `mode=legacy` plain priority order. Types named in `excludeTypes` are left queued. The e-mail rate
        limits and the concurrency caps (JOBS_CONCURRENCY) hold as in the workers: a job over a limit stays
        queued, uncharged."""
        tenant_id = self._tenant_id(request, self.query)
        report = process_due_jobs(
            max_jobs=self.query["max"],
            budget_ms=self.query["budget_ms"],
            tenant_id=tenant_id,
            job_type=self.query.get("job_type"),
            exclude_types=self.query.get("excludeTypes", []),
            trigger=TriggerRules(mode=self.query["mode"], quotas=trigger_quotas(self.query)),
        )
        return Response(QueueProcessResult(report).data)


class ScheduleAPIView(TenantAPIView):
    """The tenant's own schedules (ballast.jobs.schedules): every member reads, owners and admins write."""

    def get_permissions(self) -> list[Any]:
        return [IsTenantMember()] if self.request.method in SAFE_METHODS else [IsTenantManager()]

    def schedule(self, schedule_id: int) -> Schedule:
        """One the tenant may see (a 404 for another tenant's, and for those declared in code)."""
        found = selectors.schedules_of_current_tenant().filter(pk=schedule_id).first()
        if found is None:
            raise exceptions.NotFound(f"No schedule {schedule_id}.")
        return found

    def written(self, request: Request, change: Callable[..., Any], **arguments: Any) -> Any:
        """Call a write of ballast.jobs.schedules as the token's user, confined to its tenant; its refusal is a
        400 under the field it names."""
        try:
            return change(actor=actor_for_user(request.user), tenant_id=credential(request).tenant_id, **arguments)
        except schedules.ScheduleNotFound as exc:
            raise exceptions.NotFound(str(exc)) from None
        except schedules.ScheduleError as exc:
            raise exceptions.ValidationError({exc.field: [str(exc)]}) from None


class ScheduleListCreateView(ScheduleAPIView):
    query_serializers = {"get": PageQuery}

    @extend_schema(responses=page_of(ScheduleSerializer), summary="The tenant's cron schedules, newest first")
    def get(self, request: Request) -> Response:
        """The tenant's cron schedules, newest first, paused ones included, with each one's next and last run."""
        found = selectors.schedules_of_current_tenant()
        return paginated(request, self, found, lambda page: ScheduleSerializer(page, many=True).data)

    @extend_schema(
        request=ScheduleCreateSerializer,
        responses={201: ScheduleSerializer},
        summary="Create a cron schedule (owners and admins)",
    )
    def post(self, request: Request) -> Response:
        """A job of a type clients may enqueue, enqueued at every slot of `cron` in `timezone`. A bad expression,
        time zone, job type or payload is a 400 under that field."""
        params = ScheduleCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        created = self.written(
            request, schedules.create_schedule, public_only=True, expression=data.pop("cron"), **data
        )
        return Response(ScheduleSerializer(created).data, status=status.HTTP_201_CREATED)


class ScheduleDetailView(ScheduleAPIView):
    @extend_schema(responses=ScheduleSerializer, summary="One cron schedule")
    def get(self, request: Request, schedule_id: int) -> Response:
        """One of the tenant's schedules, with its next run, its last run and the last job it enqueued."""
        return Response(ScheduleSerializer(self.schedule(schedule_id)).data)

    @extend_schema(
        request=ScheduleChangeSerializer,
        responses=ScheduleSerializer,
        summary="Change a cron schedule (owners and admins)",
    )
    def patch(self, request: Request, schedule_id: int) -> Response:
        """Changes any of its name, job type, payload, expression, time zone and missed-slot policy; the next
        slot is reckoned again from now. A bad value is a 400 under its field."""
        self.schedule(schedule_id)
        params = ScheduleChangeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        if "cron" in data:
            data["expression"] = data.pop("cron")
        changed = self.written(request, schedules.update_schedule, schedule_id=schedule_id, public_only=True, **data)
        return Response(ScheduleSerializer(changed).data)

    @extend_schema(responses={204: None}, summary="Delete a cron schedule (owners and admins; its jobs stay)")
    def delete(self, request: Request, schedule_id: int) -> Response:
        """The schedule is gone: no slot of it runs again. The jobs it enqueued stay."""
        self.schedule(schedule_id)
        self.written(request, schedules.delete_schedule, schedule_id=schedule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SchedulePauseView(ScheduleAPIView):
    @extend_schema(request=None, responses=ScheduleSerializer, summary="Pause a cron schedule (owners and admins)")
    def post(self, request: Request, schedule_id: int) -> Response:
        """No slot is enqueued until it is resumed. Pausing a paused schedule changes nothing."""
        self.schedule(schedule_id)
        return Response(
            ScheduleSerializer(self.written(request, schedules.pause_schedule, schedule_id=schedule_id)).data
        )


class ScheduleResumeView(ScheduleAPIView):
    @extend_schema(request=None, responses=ScheduleSerializer, summary="Resume a cron schedule (owners and admins)")
    def post(self, request: Request, schedule_id: int) -> Response:
        """Runs again from the next slot after now; the slots missed while paused never run."""
        self.schedule(schedule_id)
        resumed = self.written(request, schedules.resume_schedule, schedule_id=schedule_id)
        return Response(ScheduleSerializer(resumed).data)


class ScheduleRunView(ScheduleAPIView):
    @extend_schema(
        request=None, responses={201: JobSerializer}, summary="Enqueue a cron schedule's job now (owners and admins)"
    )
    def post(self, request: Request, schedule_id: int) -> Response:
        """One job of the schedule now, beside its slots (which stay as they are). Answers the job."""
        self.schedule(schedule_id)
        job = self.written(request, schedules.run_schedule_now, schedule_id=schedule_id)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)
