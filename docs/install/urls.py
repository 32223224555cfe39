from django.urls import include

urlpatterns += [
    path("api/v1/", include("ballast.api.urls")),
    path("api/v1/", include("ballast.jobs.urls")),
    path("api/v1/", include("ballast.webhooks.urls")),
    path("api/v1/", include("ballast.uploads.urls")),
    path("api/v1/", include("ballast.emails.urls")),
    path("api/v1/", include("shop.urls")),
]
