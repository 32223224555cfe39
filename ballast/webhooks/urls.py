from django.urls import path

from ballast.webhooks import views

urlpatterns = [
    path("webhooks", views.WebhookListCreateView.as_view(), name="webhook-list"),
    path("webhooks/<int:endpoint_id>", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<int:endpoint_id>/deliveries", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
]
