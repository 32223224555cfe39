"""Enqueue a task from a view. A tenant API view runs inside the request's transaction and its tenant's
tenant_scope, so the task's job commits with the request's writes, or not at all."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api.views import TenantAPIView
from ballast.tasks.compat import TaskResultDoesNotExist, TaskResultStatus
from examples.tasks import add


class AddRequest(serializers.Serializer[dict[str, int]]):
    a = serializers.IntegerField(min_value=-(10**9), max_value=10**9)
    b = serializers.IntegerField(min_value=-(10**9), max_value=10**9)


class AddResult(serializers.Serializer[dict[str, object]]):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=list(TaskResultStatus.values))
    return_value = serializers.IntegerField(allow_null=True)


class AddView(TenantAPIView):
    @extend_schema(
        request=AddRequest,
        responses={202: AddResult},
        tags=["examples"],
        description="Enqueue examples.tasks.add(a, b); its result is read from /examples/add/{id}.",
    )
    def post(self, request: Request) -> Response:
        numbers = AddRequest(data=request.data)
        numbers.is_valid(raise_exception=True)
        result = add.enqueue(numbers.validated_data["a"], numbers.validated_data["b"])
        return Response({"id": result.id, "status": result.status, "return_value": None}, status.HTTP_202_ACCEPTED)


class AddResultView(TenantAPIView):
    @extend_schema(responses={200: AddResult}, tags=["examples"], description="The result of one addition.")
    def get(self, request: Request, result_id: str) -> Response:
        try:
            result = add.get_result(result_id)
        except TaskResultDoesNotExist:
            raise exceptions.NotFound(f"No addition {result_id}") from None
        done = result.status == TaskResultStatus.SUCCESSFUL
        return Response(
            {"id": result.id, "status": result.status, "return_value": result.return_value if done else None}
        )
