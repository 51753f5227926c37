from django.urls import path, re_path
from django.views.generic import RedirectView

from webapp import views

urlpatterns = [
    path("", RedirectView.as_view(url="/app/")),
    path("app", RedirectView.as_view(url="/app/")),
    path("app/", views.app, name="webapp"),
    re_path(r"^app/join/(?P<invite_code>[^/]+)/?$", views.app, name="webapp-join"),
    path("app/dev/phones/", views.phones, name="webapp-phones"),
    path("app/dev/phones/texts", views.phone_texts),
    path("app/dev/phones/send", views.phone_send),
]
