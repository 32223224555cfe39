from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health
from ops.metrics import metrics_view

handler404 = "api.problem_details.not_found"
handler500 = "api.problem_details.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="api-docs",
    ),
    path("api/v1/", include("api.urls")),
    path("api/v1/", include("jobs.urls")),
    path("api/v1/", include("webhooks.urls")),
    path("api/v1/", include("uploads.urls")),
    path("uploads/", include("uploads.page_urls")),
]
