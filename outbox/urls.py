from django.urls import path

from outbox import views

urlpatterns = [
    path("events", views.EventListView.as_view(), name="event-list"),
    path("events/<str:event_id>/chain", views.EventChainView.as_view(), name="event-chain"),
]
