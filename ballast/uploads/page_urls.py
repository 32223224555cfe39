from django.urls import path

from ballast.uploads import views

urlpatterns = [path("demo", views.DemoPageView.as_view(), name="uploads-demo")]
