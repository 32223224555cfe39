from django.urls import path

from shop.views import GreetingView, GreetView

urlpatterns = [
    path("greetings", GreetView.as_view()),
    path("greetings/<str:result_id>", GreetingView.as_view()),
]
