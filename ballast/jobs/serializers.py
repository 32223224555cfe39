from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from ballast.api.pagination import PageQuery
from ballast.api.serializers import JSONObjectField, StrictSerializer
from ballast.jobs import policy
from ballast.jobs.cron import MAX_EXPRESSION_LENGTH
from ballast.jobs.models import Checkpoint, DeadLetter, Job, JobAttempt, Schedule
from ballast.jobs.registry import public_types
from ballast.jobs.services import CLIENT_KEY_PREFIX, MAX_ATTEMPTS_LIMIT, PRIORITY_RANGE
from ballast.jobs.states import JobStatus


class JobCreateSerializer(StrictSerializer):
    """A job to enqueue: one of the types clients may enqueue, with a payload that fits that type's schema."""

    job_type = serializers.CharField(max_length=100)
    payload = JSONObjectField()
    priority = serializers.IntegerField(required=False, min_value=PRIORITY_RANGE[0], max_value=PRIORITY_RANGE[1])
    run_at = serializers.DateTimeField(required=False)
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ATTEMPTS_LIMIT)
    after = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The id of one of the tenant's jobs: this one waits (`waiting`) until that one succeeds, and is "
        "cancelled if that one is dead-lettered or cancelled.",
    )


class JobCreateSchema(OpenApiSerializerExtension):
    """The request is one of the public job types, each with its own payload schema (read at schema time: the
    types enabled here, e.g. diagnostics ones with JOBS_DIAGNOSTICS)."""

    target_class = JobCreateSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        base: dict[str, Any] = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        mapping: dict[str, str] = {}
        refs = []
        for spec in public_types():
            name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", spec.job_type))
            properties = {
                **base["properties"],
                "job_type": {"type": "string", "enum": [spec.job_type]},
                "payload": {"type": "object", **(spec.schema or {})},
            }
            component = ResolvedComponent(
                name=f"{name}JobCreateRequest",
                type=ResolvedComponent.SCHEMA,
                object=f"job-create:{spec.job_type}",
                schema={**base, "properties": properties, "description": f"A {spec.job_type} job."},
            )
            auto_schema.registry.register_on_missing(component)
            refs.append(component.ref)
            mapping[spec.job_type] = component.ref["$ref"]
        if not refs:
            return base
        discriminator = {"propertyName": "job_type", "mapping": mapping}
        return {"oneOf": refs, "discriminator": discriminator, "required": base.get("required", [])}


class JobAttemptSerializer(serializers.ModelSerializer[JobAttempt]):
    class Meta:
        model = JobAttempt
        fields = ["attempt", "started_at", "finished_at", "outcome", "error", "traceback", "duration_ms"]


class CheckpointSerializer(serializers.ModelSerializer[Checkpoint]):
    class Meta:
        model = Checkpoint
        fields = ["sequence", "attempt", "state", "created_at"]


class JobSerializer(serializers.ModelSerializer[Job]):
    payload = JSONObjectField(read_only=True)
    idempotency_key = serializers.SerializerMethodField()

    def get_idempotency_key(self, job: Job) -> str | None:
        """The key as the client sent it (stored under CLIENT_KEY_PREFIX); internal keys are not shown."""
        key = job.idempotency_key
        return key[len(CLIENT_KEY_PREFIX) :] if key and key.startswith(CLIENT_KEY_PREFIX) else None

    class Meta:
        model = Job
        fields = [
            "id",
            "job_type",
            "queue",
            "status",
            "priority",
            "payload",
            "attempts",
            "max_attempts",
            "available_at",
            "created_at",
            "started_at",
            "finished_at",
            "last_error",
            "result",
            "idempotency_key",
            "trace_id",
            "correlation_id",
            "cancel_requested",
            "batch_id",
            "depends_on_id",
        ]
        read_only_fields = fields


class JobDetailSerializer(JobSerializer):
    attempt_history = JobAttemptSerializer(source="attempt_rows", many=True, read_only=True)
    last_checkpoint = CheckpointSerializer(read_only=True, allow_null=True)

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "attempt_history", "last_checkpoint"]
        read_only_fields = fields


class DeadLetterSerializer(serializers.ModelSerializer[DeadLetter]):
    class Meta:
        model = DeadLetter
        fields = ["id", "job", "job_type", "reason", "error", "attempts", "status", "created_at", "replayed_at"]
        read_only_fields = fields


class JobListQuery(PageQuery):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False, help_text="Only jobs in this status.")
    job_type = serializers.CharField(required=False, max_length=100, help_text="Only jobs of this type.")


class DeadLetterQuery(PageQuery):
    status = serializers.ChoiceField(
        choices=DeadLetter.Status.choices, required=False, help_text="Only dead letters in this status."
    )


MAX_EXCLUDED_TYPES = 10
_JOB_TYPE_NAME = r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*"
# The schema carries the whole rule as a pattern, so a client (and the fuzzer) knows what is valid.
EXCLUDED_TYPES = rf"^{_JOB_TYPE_NAME}(,{_JOB_TYPE_NAME}){{0,{MAX_EXCLUDED_TYPES - 1}}}$"


QUOTA_PARAMETERS = {job_class: f"{job_class}Max" for job_class in policy.JOB_CLASSES}


def _quota(job_class: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=0,
        max_value=policy.TRIGGER_QUOTA_LIMIT,
        required=False,
        help_text=f"mode=balanced (ignored in legacy): at most this many {job_class} jobs started in this call "
        f"(default {policy.TRIGGER_QUOTA_DEFAULTS[job_class]}; 0: none).",
    )


class QueueProcessParams(StrictSerializer):
    json_types = False  # query parameters are strings

    max = serializers.IntegerField(
        min_value=1, max_value=50, default=1, help_text="Jobs to run at most (one, unless the caller asks for more)."
    )
    # Well under the web server's worker timeout (30 s): a request must never be killed mid-job.
    budget_ms = serializers.IntegerField(
        min_value=1, max_value=10_000, default=5_000, help_text="No job starts after this many milliseconds."
    )
    job_type = serializers.CharField(required=False, max_length=100, help_text="Only jobs of this type.")
    tenant = serializers.SlugField(required=False, help_text="X-Queue-Secret only: only this tenant's jobs.")
    excludeTypes = serializers.RegexField(
        EXCLUDED_TYPES,
        required=False,
        max_length=300,  # the request line stays under the web server's limit, escaped characters included
        error_messages={
            "invalid": f"Comma-separated job type names (letters, digits, _ and dots, no spaces), at most "
            f"{MAX_EXCLUDED_TYPES}."
        },
        help_text=f"Comma-separated job types not to run in this call (at most {MAX_EXCLUDED_TYPES}).",
    )

    mode = serializers.ChoiceField(
        choices=list(policy.TRIGGER_MODES),
        default="balanced",
        help_text="`balanced`: maintenance jobs first, then by priority, within the quotas per job class. "
        "`legacy`: priority order alone, no quotas.",
    )
    emailMax = _quota("email")
    cleanupMax = _quota("cleanup")
    auditMax = _quota("audit")

    def validate_excludeTypes(self, value: str) -> list[str]:  # a final newline is trimmed before the pattern
        return value.split(",")


def trigger_quotas(params: dict[str, Any]) -> dict[str, int]:
    """The quota of each job class in force (balanced mode): the caller's, else the default."""
    return {
        job_class: params.get(name, policy.TRIGGER_QUOTA_DEFAULTS[job_class])
        for job_class, name in QUOTA_PARAMETERS.items()
    }


class QueueProcessResult(serializers.Serializer[Any]):
    processed = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    retried = serializers.IntegerField()
    elapsed_ms = serializers.IntegerField()


class ScheduleSerializer(serializers.ModelSerializer[Schedule]):
    payload = JSONObjectField(read_only=True)
    last_job = serializers.IntegerField(
        source="last_job_id", read_only=True, allow_null=True, help_text="The id of the last job it enqueued."
    )

    class Meta:
        model = Schedule
        fields = [
            "id",
            "name",
            "job_type",
            "payload",
            "cron",
            "timezone",
            "missed",
            "enabled",
            "next_run_at",
            "last_run_at",
            "last_job",
            "last_error",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


_NAME_LENGTH = Schedule._meta.get_field("name").max_length or 120


class ScheduleChangeSerializer(StrictSerializer):
    """A change to a schedule: any of its fields; the next slot is reckoned again."""

    name = serializers.CharField(
        required=False, max_length=_NAME_LENGTH, help_text="Unique in the tenant; not starting `code:`."
    )
    job_type = serializers.CharField(
        required=False, max_length=100, help_text="A job type clients may enqueue (as POST /api/v1/jobs)."
    )
    payload = JSONObjectField(required=False, help_text="Fits the job type's schema.")
    cron = serializers.CharField(
        required=False,
        max_length=MAX_EXPRESSION_LENGTH,
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. `0 3 * * *`.",
    )
    timezone = serializers.CharField(
        required=False, max_length=64, help_text="An IANA time zone, e.g. `Europe/Berlin`; slots follow its DST."
    )
    missed = serializers.ChoiceField(
        choices=Schedule.Missed.choices,
        required=False,
        help_text="A slot the scheduler reaches too late: `skip` it, or `run_once` (the latest one).",
    )


class ScheduleCreateSerializer(ScheduleChangeSerializer):
    """A new schedule of the tenant; its first slot is the next one from now."""

    name = serializers.CharField(max_length=_NAME_LENGTH, help_text="Unique in the tenant; not starting `code:`.")
    job_type = serializers.CharField(max_length=100, help_text="A job type clients may enqueue (as POST /api/v1/jobs).")
    payload = JSONObjectField(required=False, default=dict, help_text="Fits the job type's schema.")
    cron = serializers.CharField(
        max_length=MAX_EXPRESSION_LENGTH,
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. `0 3 * * *`.",
    )
    timezone = serializers.CharField(
        required=False,
        default="UTC",
        max_length=64,
        help_text="An IANA time zone, e.g. `Europe/Berlin`; slots follow its DST.",
    )
    missed = serializers.ChoiceField(
        choices=Schedule.Missed.choices,
        default=Schedule.Missed.SKIP,
        help_text="A slot the scheduler reaches too late: `skip` it, or `run_once` (the latest one).",
    )
    enabled = serializers.BooleanField(required=False, default=True, help_text="False: created paused.")
