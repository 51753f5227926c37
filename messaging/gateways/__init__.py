"""SMS gateways: the framework here (``base``, ``ratelimit``, ``state``), one package per
provider beside it.

A provider ``<provider>`` is one folder, ``messaging/gateways/<provider>/``, found by the
service without naming it anywhere else (settings and URLs list the folders here):

- ``__init__.py`` exports the gateway class as ``Gateway``, lazily (a module ``__getattr__``):
  the package is also a Django app, loaded before models may be imported;
- ``backend.py``: the ``BaseGateway`` subclass, which reads the provider's settings and raises
  ``ImproperlyConfigured`` for a missing one (checked when the service starts);
- ``text.py``: how a text is split and counted;
- ``webhooks.py``: views and a module-level ``urlpatterns``, served under
  ``/webhooks/<provider>/``;
- ``simulator.py`` and ``management/commands/<provider>_simulator.py``: the local stand-in;
- its tests in ``tests/gateways/<provider>/``.

``GROUPFLIER_SMS_GATEWAY=<provider>`` then chooses it.
"""

import pkgutil


def provider_packages() -> list[str]:
    """The providers' package names (``grouptexting``, ``twilio``...), without importing them
    (settings calls this before Django is set up)."""
    return sorted(module.name for module in pkgutil.iter_modules(__path__) if module.ispkg)
