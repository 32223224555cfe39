from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ballast.api.serializers import StrictSerializer
from ballast.jobs.models import Checkpoint, DeadLetter, Job, JobAttempt
from ballast.jobs.services import CLIENT_KEY_PREFIX, MAX_ATTEMPTS_LIMIT, PRIORITY_RANGE


class JobCreateSerializer(StrictSerializer):
    job_type = serializers.CharField(max_length=100)
    payload = serializers.JSONField()
    priority = serializers.IntegerField(required=False, min_value=PRIORITY_RANGE[0], max_value=PRIORITY_RANGE[1])
    run_at = serializers.DateTimeField(required=False)
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ATTEMPTS_LIMIT)


class JobAttemptSerializer(serializers.ModelSerializer[JobAttempt]):
    class Meta:
        model = JobAttempt
        fields = ["attempt", "started_at", "finished_at", "outcome", "error", "duration_ms"]


class CheckpointSerializer(serializers.ModelSerializer[Checkpoint]):
    class Meta:
        model = Checkpoint
        fields = ["sequence", "attempt", "state", "created_at"]


class JobSerializer(serializers.ModelSerializer[Job]):
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


class QueueProcessParams(StrictSerializer):
    max = serializers.IntegerField(min_value=1, max_value=50, default=10)
    # Well under the web server's worker timeout (30 s): a request must never be killed mid-job.
    budget_ms = serializers.IntegerField(min_value=1, max_value=10_000, default=5_000)
    job_type = serializers.CharField(required=False, max_length=100)
    tenant = serializers.SlugField(required=False)


class QueueProcessResult(serializers.Serializer[Any]):
    processed = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    retried = serializers.IntegerField()
    elapsed_ms = serializers.IntegerField()
