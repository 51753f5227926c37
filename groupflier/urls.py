from django.contrib import admin
from django.urls import path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from groupflier.api import handlers
from groups import views as group_views
from members import views as member_views

ENDPOINTS = [
    group_views.GroupCreate,
    member_views.MemberFind,
    member_views.MemberLogin,
    member_views.MemberLogout,
    member_views.MemberGroups,
]

urlpatterns = [
    path("admin", RedirectView.as_view(url="/admin/")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    *[url for endpoint in ENDPOINTS for url in endpoint.urls()],
    # Anything else is the API's JSON 404, even with DEBUG on.
    re_path(r"^.*$", handlers.not_found),
]

handler400 = "groupflier.api.handlers.bad_request"
handler404 = "groupflier.api.handlers.not_found"
handler500 = "groupflier.api.handlers.server_error"
