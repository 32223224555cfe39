"""The API of batches: a tenant reads its batch's progress and cancels it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api.views import TenantAPIView
from ballast.jobs import batches, selectors
from ballast.jobs.models import Batch
from ballast.jobs.states import JobStatus
from ballast.tenants.audit import actor_for_user


class BatchSerializer(serializers.ModelSerializer[Batch]):
    """A batch's counts of members that ended, its members by state now, and its callbacks' jobs."""

    pending = serializers.SerializerMethodField()
    members = serializers.SerializerMethodField()

    class Meta:
        model = Batch
        fields = [
            "id",
            "description",
            "total",
            "succeeded",
            "failed",
            "cancelled",
            "pending",
            "members",
            "on_complete_job_id",
            "on_success_job_id",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_pending(self, batch: Batch) -> int:
        return batch.total - batch.succeeded - batch.failed - batch.cancelled

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
    def get_members(self, batch: Batch) -> dict[str, int]:
        counts: dict[str, int] = self.context["members"]
        return {status: counts.get(status, 0) for status in JobStatus.values if status != JobStatus.WAITING}


def _progress(batch_id: int) -> dict[str, Any]:
    found = selectors.batch_progress(batch_id)
    if found is None:
        raise exceptions.NotFound(f"No batch {batch_id}.")
    batch, members = found
    return dict(BatchSerializer(batch, context={"members": members}).data)


class BatchDetailView(TenantAPIView):
    @extend_schema(responses=BatchSerializer, summary="A batch's progress: its members' ends and states")
    def get(self, request: Request, batch_id: int) -> Response:
        """One of the tenant's batches: how many members succeeded, failed for good or were cancelled, how many
        are still to end, its members by state, and the jobs of its callbacks."""
        return Response(_progress(batch_id))


class BatchCancelView(TenantAPIView):
    @extend_schema(request=None, responses=BatchSerializer, summary="Cancel a batch's queued members")
    def post(self, request: Request, batch_id: int) -> Response:
        """Cancels the batch's queued members and asks its running ones to stop; its on_complete callback runs
        once the last member ends. Safe to repeat. Answers the batch."""
        found = selectors.batch_progress(batch_id)
        if found is None:
            raise exceptions.NotFound(f"No batch {batch_id}.")
        batches.cancel_batch(batch=found[0], actor=actor_for_user(request.user))
        return Response(_progress(batch_id))
