"""The SMS gateway interface: one base class, one error type, chosen in settings by short
name (``GROUPFLIER_SMS_GATEWAY=grouptexting``) or dotted path (``groupflier.backends``).

Adding a provider is one new package here (plus its tests): see ``messaging.gateways``.

How a caller sends a text (the message pipeline does this; ``send`` does it for system texts)::

    parts = gateway.split(text, sender_name)        # one delivery row per part
    for part in parts:
        if is_paused(gateway): ...                  # leave the row queued (gateways.state)
        try:
            gateway.send_part(to, part, from_number=..., sender_name=sender_name)
        except GatewayError as exc:
            exc.effect: PAUSE_GATEWAY -> the backend paused the gateway: leave the row
                                         queued until gateway_resumed, no attempt counted;
                        PAUSE_NUMBER -> the backend paused from_number: this row waits,
                                        queued, no attempt counted, until the backend tries
                                        the number again (retry_after) or it is resumed;
                                        the other rows go on;
                        RETRY -> retry with backoff, a bounded number of times;
                        the recipient effects -> apply_recipient_effect(exc, member), final;
                        FAIL, OUTCOME_UNKNOWN -> final (never resent)
"""

from groupflier.backends import BackendError, BackendSetting, ErrorEffect

__all__ = ["BaseGateway", "ErrorEffect", "GatewayError", "default_sender", "get_gateway"]


class GatewayError(BackendError):
    """A send that did not go through.

    ``permanent`` errors are final (a bad number, an opted-out recipient, a request sent and
    never answered); the others may pass (HTTP 503, no connection) and are retried with
    backoff. ``effect`` says what else follows (see ``ErrorEffect``); ``code`` is the
    provider's answer (``"-104"``, ``"http_503"``, ``"connect_error"``). Give ``permanent`` or
    ``effect``; the other follows from it.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool | None = None,
        code: str | None = None,
        effect: ErrorEffect | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(
            reason, permanent=permanent, effect=effect, code=code, retry_after=retry_after
        )


class BaseGateway:
    """Sends texts to numbers. Subclasses implement ``send_part``, and ``split`` when the
    provider limits a message's length or characters.

    ``sender_name`` is who a group message is from ("Mom"); each gateway shows it its own way
    (a subject field, or a ``"Mom: "`` prefix), so callers pass the bare text and the name.
    """

    # What members are told to type before a command word (SPEC §3): a gateway whose
    # character set lacks `*` sets "#" (texts.marks).
    command_mark = "*"

    def __init__(self, **options):
        """Take the options (``GROUPFLIER_SMS_GATEWAY_OPTIONS``) and the provider's settings;
        raise ``ImproperlyConfigured`` for a missing or wrong one. No network here: this also
        runs when the service starts, to check the configuration."""
        self.options = options

    @property
    def name(self) -> str:
        """The key of this gateway's ``GatewayState`` row: its provider's package (for
        ``messaging.gateways.grouptexting.backend``) or module's name."""
        module = type(self).__module__.split(".")
        return module[-2] if module[-1] == "backend" and len(module) > 1 else module[-1]

    def split(self, text: str, sender_name: str = "") -> list[str]:
        """The parts ``text`` from ``sender_name`` goes out as, in order, each ready for
        ``send_part`` with the same ``sender_name``. Default: the text as one part."""
        return [text]

    def send_part(self, to: str, part: str, *, from_number: str = "", sender_name: str = "") -> str:
        """Hand one part from ``split`` to the provider for ``to`` (E.164); return the
        provider's reference ("" when it gives none).

        Raise ``GatewayError`` when it does not go through.
        """
        raise NotImplementedError

    def send(self, to: str, text: str, *, from_number: str = "", sender_name: str = "") -> str:
        """Send a whole text, part after part; return the parts' references, comma-separated.

        The first failing part raises, and the parts before it stay sent: callers that must
        resume where they stopped keep one row per part and call ``send_part`` themselves.
        """
        return ",".join(
            self.send_part(to, part, from_number=from_number, sender_name=sender_name)
            for part in self.split(text, sender_name)
        )

    def check_credits(self) -> int | None:
        """The account's credit balance, or None for a gateway without one.

        Raise ``GatewayError`` when the provider does not answer it.
        """
        return None


def default_sender() -> str:
    """The number a text with no group number (a login PIN) goes from, for a gateway that
    must name one: the first pool number."""
    from groups.models import PoolNumber

    number = PoolNumber.objects.filter(active=True).order_by("id").values_list("number", flat=True)
    first = number.first()
    if first is None:
        raise GatewayError("no pool number to send from", code="no_sender", effect=ErrorEffect.FAIL)
    return str(first)


SMS_GATEWAY = BackendSetting(
    "GROUPFLIER_SMS_GATEWAY",
    options_setting="GROUPFLIER_SMS_GATEWAY_OPTIONS",
    base=BaseGateway,
    package="messaging.gateways",
    export="Gateway",
)


def get_gateway() -> BaseGateway:
    """The configured gateway, one instance per process (so it can keep connections alive)."""
    return SMS_GATEWAY.get()
