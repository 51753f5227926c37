"""Pluggable backends (SMS gateways, push services, payment processors): one way to name them,
load them, configure them and report their failures.

A kind of backend is a ``BackendSetting``: the setting that names the backend, the setting with
its options (a JSON object), the base class it must derive from, and the package where its
short names live. A short name ``N`` (no dot) is ``<package>.N.<export>``: for SMS gateways
``twilio`` is ``messaging.gateways.twilio.Gateway``; a dotted path names any class.

A backend's constructor validates its options and raises ``ImproperlyConfigured`` for one that
is missing or wrong; it does no network I/O. Every kind is built once when the service starts
(the system check below, run by ``manage.py check`` and ``migrate``, the web process and the
workers: ``groupflier.startup``), so a misconfiguration stops the service with one line rather
than leaving the first text stuck. Then ``get()`` gives the process's one instance, so it can
keep its connections.

Every backend reports a call that did not go through with a ``BackendError`` subclass
(``GatewayError``, ``PushError``, ``PaymentError``): ``permanent`` says whether trying again
can help, ``effect`` what else follows.
"""

import enum
import json
import os
import pkgutil
import threading
from importlib import import_module

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string


class ErrorEffect(enum.StrEnum):
    """What a failed call means beyond "this did not go through"."""

    RETRY = "retry"  # may pass (HTTP 503, no connection, provider hiccup): retry with backoff
    FAIL = "fail"  # final for this call, nothing else to do (e.g. text refused, card declined)
    OUTCOME_UNKNOWN = "outcome_unknown"  # sent, then no answer: the provider may have it
    PAUSE_GATEWAY = "pause_gateway"  # the account cannot send (credentials, credit)
    # One sending number cannot send now (its phone stopped answering): that number's texts
    # wait, the others go on.
    PAUSE_NUMBER = "pause_number"
    RECIPIENT_OPTED_OUT_LOCALLY = "recipient_opted_out_locally"  # on our sender's opt-out list
    RECIPIENT_OPTED_OUT_GLOBALLY = "recipient_opted_out_globally"  # opted out: block as STOP
    BAD_NUMBER = "bad_number"  # the provider refuses the number as malformed
    UNREGISTERED = "unregistered"  # the device token is dead: the device goes


_TRANSIENT_EFFECTS = {ErrorEffect.RETRY, ErrorEffect.PAUSE_GATEWAY, ErrorEffect.PAUSE_NUMBER}


class BackendError(Exception):
    """A call to a backend that did not go through.

    ``permanent`` errors are final; the others may pass and are retried with backoff (no
    sooner than ``retry_after`` seconds when the provider says so). ``effect`` says what else
    follows (see ``ErrorEffect``); ``code`` is the provider's answer when it gave one. Give
    ``permanent`` or ``effect``; the other follows from it.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool | None = None,
        effect: ErrorEffect | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ):
        if permanent is None and effect is None:
            raise TypeError(f"{type(self).__name__} needs permanent= or effect=")
        if effect is None:
            effect = ErrorEffect.FAIL if permanent else ErrorEffect.RETRY
        if permanent is None:
            permanent = effect not in _TRANSIENT_EFFECTS
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.effect = effect
        self.code = code
        self.retry_after = retry_after

    def __repr__(self):
        return f"{type(self).__name__}({self.reason!r}, code={self.code!r}, effect={self.effect})"


def provider_setting(name: str, default, parse=str):
    """A provider's own setting (``GROUPTEXTING_USER``): from Django's settings when they define
    it (tests do), else from the environment variable of that name, else ``default``. A
    provider declares its settings in its own package, so adding one edits no settings file."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, "").strip() or None
    if value is None:
        return default
    try:
        return parse(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name} must be {parse.__name__}, not {value!r}") from None


def backend_class(setting: str, name: str, base: type, *, package: str = "", export: str = ""):
    """The class ``name`` stands for in ``setting``: a short name found in ``package`` (as its
    module's ``export``) or a dotted path; it must derive from ``base``. Else
    ImproperlyConfigured naming the setting, so a misconfiguration says where to look."""
    short = package and "." not in name
    path = f"{package}.{name}.{export}" if short else name
    try:
        cls = import_string(path)
    except ImportError as exc:
        if short and getattr(exc, "name", None) == f"{package}.{name}":
            known = ", ".join(short_names(package, export))
            raise ImproperlyConfigured(
                f"{setting} {name!r} is not a known name ({known}) nor a dotted path"
            ) from None
        raise ImproperlyConfigured(f"{setting} {name!r} cannot be imported: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ImproperlyConfigured(f"{setting} {name!r} is not a {base.__name__}")
    return cls


def short_names(package: str, export: str) -> list[str]:
    """The short names ``package`` has: its modules and packages that export ``export``."""
    names = []
    for module in pkgutil.iter_modules(import_module(package).__path__):
        try:
            if hasattr(import_module(f"{package}.{module.name}"), export):
                names.append(module.name)
        except Exception:  # a module that does not import is no short name
            pass
    return sorted(names)


_kinds: list["BackendSetting"] = []


class BackendSetting:
    """One kind of backend, named by ``setting`` and configured by ``options_setting``.

    ``extra`` are keyword arguments every instance gets besides the options (a push backend
    its service's name).
    """

    def __init__(
        self,
        setting: str,
        *,
        options_setting: str,
        base: type,
        package: str,
        export: str,
        extra: dict | None = None,
    ):
        self.setting, self.options_setting = setting, options_setting
        self.base, self.package, self.export = base, package, export
        self.extra = extra or {}
        self._instances: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        _kinds.append(self)

    @property
    def name(self) -> str:
        return getattr(settings, self.setting)

    def options(self) -> dict:
        options = getattr(settings, self.options_setting)
        if not isinstance(options, dict):
            raise ImproperlyConfigured(f"{self.options_setting} must be a JSON object")
        return options

    def resolve(self, name: str | None = None) -> type:
        return backend_class(
            self.setting,
            self.name if name is None else name,
            self.base,
            package=self.package,
            export=self.export,
        )

    def path(self) -> str:
        """The configured class's dotted path, the same whether it was named short or long."""
        cls = self.resolve()
        return f"{cls.__module__}.{cls.__qualname__}"

    def build(self):
        """A new instance with the configured options; ImproperlyConfigured when they are
        wrong."""
        return self.resolve()(**{**self.options(), **self.extra})

    def get(self):
        """The configured backend, one instance per process (so it can keep connections)."""
        key = (self.name, json.dumps(self.options(), sort_keys=True, default=str))
        with self._lock:
            instance = self._instances.get(key)
            if instance is None:
                instance = self._instances[key] = self.build()
            return instance

    def cache_clear(self) -> None:
        """Close and forget the instances (settings changed, or the process is ending)."""
        with self._lock:
            instances = list(self._instances.values())
            self._instances.clear()
        for instance in instances:
            close = getattr(instance, "close", None)
            if close is not None:
                close()

    def check(self) -> list[checks.CheckMessage]:
        try:
            instance = self.build()
        except ImproperlyConfigured as exc:
            return [checks.Error(str(exc), id="groupflier.E001")]
        except Exception as exc:  # a constructor that fails otherwise is misconfigured too
            message = f"{self.setting} {self.name!r} cannot start: {type(exc).__name__}: {exc}"
            return [checks.Error(message, id="groupflier.E001")]
        close = getattr(instance, "close", None)
        if close is not None:
            close()
        return []


@checks.register("backends")
def check_backends(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every kind of backend can be built from its settings."""
    return [error for kind in _kinds for error in kind.check()]


def _forget_on_change(setting, **kwargs):
    # Tests change settings; a backend built from the old ones must not outlive them.
    for kind in _kinds:
        if setting in (kind.setting, kind.options_setting):
            kind.cache_clear()


setting_changed.connect(_forget_on_change, dispatch_uid="groupflier-backends-forget")
