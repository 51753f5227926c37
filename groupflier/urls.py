from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as account_views
from devices import views as device_views
from groupflier import health, metrics
from groupflier.api import handlers
from groups import member_views as group_member_views
from groups import views as group_views
from members import views as member_views
from messaging import views as message_views

ENDPOINTS = [
    group_views.GroupCreate,
    group_views.GroupSet,
    group_views.GroupDelete,
    group_views.GroupList,
    group_views.GroupJoin,
    group_views.GroupInviteCheck,
    group_member_views.MemberAdd,
    group_member_views.MemberRemove,
    group_member_views.MemberSet,
    group_member_views.MemberBye,
    group_member_views.MemberHi,
    member_views.MemberFind,
    member_views.MemberLogin,
    member_views.MemberLogout,
    group_member_views.MemberGroups,
    device_views.DeviceRegister,
    device_views.DeviceRelease,
    account_views.AccountSet,
    account_views.AccountPassword,
    account_views.AccountBalance,
    account_views.AccountCharge,
    *message_views.ENDPOINTS,
]

admin.site.site_header = "GroupFlier operations"
admin.site.site_title = "GroupFlier"
admin.site.index_title = "Groups, texts and the gateway"

urlpatterns = [
    path("admin", RedirectView.as_view(url="/admin/")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    *[url for endpoint in ENDPOINTS for url in endpoint.urls()],
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # Each SMS provider's webhooks under webhooks/<provider>/ (messaging.gateways.urls).
    path("webhooks/", include("messaging.gateways.urls")),
    # The web app (SPEC §9): / leads to /app/.
    path("", include("webapp.urls")),
    # Anything else is the API's JSON 404, even with DEBUG on.
    re_path(r"^.*$", handlers.not_found),
]

handler400 = "groupflier.api.handlers.bad_request"
handler404 = "groupflier.api.handlers.not_found"
handler500 = "groupflier.api.handlers.server_error"
