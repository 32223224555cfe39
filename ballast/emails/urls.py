from django.urls import path

from ballast.emails import views

urlpatterns = [
    path("emails", views.EmailListView.as_view(), name="email-list"),
    path("emails/<int:delivery_id>", views.EmailDetailView.as_view(), name="email-detail"),
]
