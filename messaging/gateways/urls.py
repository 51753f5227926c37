"""The providers' webhooks: each provider package's ``webhooks.urlpatterns`` under
``<provider>/`` (mounted at ``/webhooks/``), found rather than listed. A provider's webhook at
its root (``/webhooks/android/``) is served without the trailing slash too: a URL entered in
a phone app or a provider's console either way works, and a redirect would lose the POST."""

from importlib import import_module
from importlib.util import find_spec

from django.urls import include, path

from messaging.gateways import provider_packages


def _webhooks():
    for provider in provider_packages():
        if find_spec(f"messaging.gateways.{provider}.webhooks") is None:
            continue
        module = import_module(f"messaging.gateways.{provider}.webhooks")
        yield path(f"{provider}/", include(module))
        yield from (
            path(provider, pattern.callback)
            for pattern in module.urlpatterns
            if str(pattern.pattern) == ""
        )


urlpatterns = list(_webhooks())
