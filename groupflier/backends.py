"""Pluggable backends (SMS gateways, payment processors, push services) are named by a dotted
path in a setting; this is the one place such a path becomes a class."""

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


def backend_class(setting: str, path: str, base: type) -> type:
    """The class ``path`` names, which must derive from ``base``; else ImproperlyConfigured
    naming ``setting``, so a misconfiguration says where to look."""
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{setting} {path!r} cannot be imported: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ImproperlyConfigured(f"{setting} {path!r} is not a {base.__name__}")
    return cls
