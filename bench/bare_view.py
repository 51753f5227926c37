"""The baseline of bench/api: a bare Django JSON view, no middleware, no database.

bench/api serves it with the same gunicorn command line as the API (scripts/run's), so the
API's figures can be read as a fraction of what Django alone answers on the same machine.

    gunicorn --pythonpath bench bare_view:application
"""

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-bare-view",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    USE_TZ=True,
)


def bare(request):
    return JsonResponse({"status": "OK"})


urlpatterns = [path("bare", bare)]
application = get_wsgi_application()
