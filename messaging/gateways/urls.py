"""The providers' webhooks: each provider package's ``webhooks.urlpatterns`` under
``<provider>/`` (mounted at ``/webhooks/``), found rather than listed."""

from importlib import import_module
from importlib.util import find_spec

from django.urls import include, path

from messaging.gateways import provider_packages

urlpatterns = [
    path(f"{provider}/", include(import_module(f"messaging.gateways.{provider}.webhooks")))
    for provider in provider_packages()
    if find_spec(f"messaging.gateways.{provider}.webhooks") is not None
]
