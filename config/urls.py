from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ballast.api import health, problem_details
from ballast.api.content_security import with_policy
from ballast.ops.metrics import metrics_view

handler400 = "ballast.api.problem_details.bad_request"
handler404 = "ballast.api.problem_details.not_found"
handler500 = "ballast.api.problem_details.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "api/docs/",
        # The split view serves its start-up script from a URL: the policy allows no inline script.
        with_policy(
            SpectacularSwaggerSplitView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
            settings.API_DOCS_CONTENT_SECURITY_POLICY,
        ),
        name="api-docs",
    ),
    path("api/v1/", include("ballast.api.urls")),
    path("api/v1/", include("ballast.jobs.urls")),
    path("api/v1/", include("ballast.webhooks.urls")),
    path("api/v1/", include("ballast.uploads.urls")),
    path("api/v1/", include("ballast.emails.urls")),
    path("uploads/", include("ballast.uploads.page_urls")),
    *([path("api/v1/", include("examples.urls"))] if "examples" in settings.INSTALLED_APPS else []),  # dev only
    # Last: any other path under /api/ (a trailing slash included) is a problem 404, whatever DEBUG says.
    # /api/schema and /api/docs without their slash still redirect to it (APPEND_SLASH).
    re_path(r"^api/(?!(?:schema|docs)$)", problem_details.no_route),
]
