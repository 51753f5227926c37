"""The SMS gateway interface: one base class, one error type, chosen by dotted path in settings.

Adding a provider is one new module here (plus its tests) with a ``BaseGateway`` subclass.
"""

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


class GatewayError(Exception):
    """A send that did not go through.

    ``permanent`` errors are final (a bad number, an opted-out recipient); the others may pass
    (HTTP 503, a dropped connection) and are retried with backoff.
    """

    def __init__(self, reason: str, *, permanent: bool, code: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code


class BaseGateway:
    """Sends one text to one number. Subclasses implement ``send``."""

    def __init__(self, **options):
        self.options = options

    def send(self, to: str, text: str, *, from_number: str = "") -> str:
        """Hand ``text`` to the provider for ``to`` (E.164); return the provider's reference.

        Raise ``GatewayError`` when it does not go through.
        """
        raise NotImplementedError


@lru_cache(maxsize=4)
def _load(path: str, options_items: tuple) -> BaseGateway:
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"GROUPFLIER_SMS_GATEWAY {path!r} cannot be imported: {exc}"
        ) from exc
    if not issubclass(cls, BaseGateway):
        raise ImproperlyConfigured(f"GROUPFLIER_SMS_GATEWAY {path!r} is not a BaseGateway")
    return cls(**dict(options_items))


def get_gateway() -> BaseGateway:
    """The configured gateway, one instance per process (so it can keep connections alive)."""
    options = tuple(sorted(settings.GROUPFLIER_SMS_GATEWAY_OPTIONS.items()))
    return _load(settings.GROUPFLIER_SMS_GATEWAY, options)
