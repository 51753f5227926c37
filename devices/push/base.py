"""The push service interface: one base class, one error type, a backend per service chosen in
settings (GROUPFLIER_PUSH_APNS_BACKEND, GROUPFLIER_PUSH_FCM_BACKEND) by short name (``log``,
``apns``, ``fcm``) or dotted path (``groupflier.backends``).

Adding a provider is one new module here (plus its tests) with a ``PushBackend`` subclass,
exported as ``Backend``.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from groupflier.backends import BackendError, BackendSetting, ErrorEffect


@dataclass(frozen=True)
class Notification:
    """What a phone shows, in terms every service can carry."""

    body: str
    title: str = ""
    # Custom key/value pairs for the app; strings only, as FCM requires.
    data: dict[str, str] = field(default_factory=dict)
    # Shown together on the phone (an iOS thread, an Android tag): one per group.
    thread_id: str = ""
    # A later notification with the same id replaces this one instead of piling up.
    collapse_id: str = ""


class PushError(BackendError):
    """A push that did not go through.

    ``permanent`` errors are final (a malformed request, refused credentials); the others may
    pass (throttling, a server error, a dropped connection) and are retried with backoff, no
    sooner than ``retry_after`` seconds when the service says so. ``unregistered`` means the
    token is dead (the app was uninstalled, or the token was never valid): the device goes.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        unregistered: bool = False,
        retry_after: int | None = None,
    ):
        effect = ErrorEffect.UNREGISTERED if unregistered else None
        super().__init__(
            reason, permanent=permanent or unregistered, effect=effect, retry_after=retry_after
        )

    @property
    def unregistered(self) -> bool:
        return self.effect is ErrorEffect.UNREGISTERED


class PushBackend:
    """Sends one notification to one device token. Subclasses implement ``send``.

    One instance serves a whole worker process, from several threads at once, so it can keep
    its connection and credentials.
    """

    option_names: tuple[str, ...] = ()

    def __init__(self, *, service: str, **options):
        self.service = service
        self.options = options
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            # A misspelt option would otherwise be ignored in silence and its default used.
            raise ImproperlyConfigured(
                f"GROUPFLIER_PUSH_{service.upper()}_OPTIONS has options {type(self).__name__} "
                f"does not know: {', '.join(unknown)}"
            )

    def send(self, token: str, notification: Notification) -> str:
        """Hand the notification to the service; return the service's reference for it.

        Raise ``PushError`` when it does not go through.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release connections. The backend is not used afterwards."""

    def require(self, name: str):
        """An option without which the backend cannot work."""
        value = self.options.get(name)
        if value in (None, ""):
            raise ImproperlyConfigured(
                f"GROUPFLIER_PUSH_{self.service.upper()}_OPTIONS needs {name!r} "
                f"for {type(self).__name__}"
            )
        return value


def retry_after(headers) -> int | None:
    """A response's Retry-After header in seconds, when it is given as a number."""
    value = (headers.get("retry-after") or "").strip()
    return int(value) if value.isdigit() else None


SERVICES = {
    service: BackendSetting(
        f"GROUPFLIER_PUSH_{service.upper()}_BACKEND",
        options_setting=f"GROUPFLIER_PUSH_{service.upper()}_OPTIONS",
        base=PushBackend,
        package="devices.push",
        export="Backend",
        extra={"service": service},
    )
    for service in ("apns", "fcm")
}


def get_backend(service: str) -> PushBackend:
    """The configured backend of ``service`` ("apns" or "fcm"), one instance per process."""
    return SERVICES[service].get()


def close_backends() -> None:
    """Close and forget every backend (settings changed, or the process is ending)."""
    for backend in SERVICES.values():
        backend.cache_clear()
