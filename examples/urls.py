from django.urls import path

from examples import views

urlpatterns = [
    path("examples/add", views.AddView.as_view(), name="examples-add"),
    path("examples/add/<str:result_id>", views.AddResultView.as_view(), name="examples-add-result"),
]
