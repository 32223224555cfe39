from django.urls import path

from uploads import views

urlpatterns = [path("demo", views.DemoPageView.as_view(), name="uploads-demo")]
