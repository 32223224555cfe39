"""The API's own endpoints: the caller's account (me, tokens) and the event log. Each app above serves its
resources from its own urls.py."""

from django.urls import path

from ballast.api import account, events

urlpatterns = [
    path("me", account.MeView.as_view(), name="me"),
    path("tokens", account.TokenListView.as_view(), name="token-list"),
    path("tokens/<int:token_id>", account.TokenDetailView.as_view(), name="token-detail"),
    path("events", events.EventListView.as_view(), name="event-list"),
    path("events/<str:event_id>/chain", events.EventChainView.as_view(), name="event-chain"),
]
