from rest_framework.request import Request
from rest_framework.response import Response

from ballast.api.views import TenantAPIView
from shop.tasks import greet


class GreetView(TenantAPIView):
    """POST {"name": ...}: the greeting is a task, enqueued in this request's transaction and tenant."""

    def post(self, request: Request) -> Response:
        result = greet.enqueue(str(request.data["name"]))
        return Response({"id": result.id}, status=202)


class GreetingView(TenantAPIView):
    def get(self, request: Request, result_id: str) -> Response:
        result = greet.get_result(result_id)
        return Response(
            {"status": result.status, "greeting": result.return_value if result.status == "SUCCESSFUL" else None}
        )
