"""The SMS gateway interface: one base class, one error type, chosen by dotted path in settings.

Adding a provider is one new module here (plus its tests) with a ``BaseGateway`` subclass.

How a caller sends a text (the message pipeline does this; ``send`` does it for system texts)::

    parts = gateway.split(text, sender_name)        # one delivery row per part
    for part in parts:
        if is_paused(gateway): ...                  # leave the row queued (gateways.state)
        try:
            gateway.send_part(to, part, from_number=..., sender_name=sender_name)
        except GatewayError as exc:
            exc.effect: PAUSE_GATEWAY -> the backend paused the gateway: leave the row
                                         queued until gateway_resumed, no attempt counted;
                        RETRY -> retry with backoff, a bounded number of times;
                        the recipient effects -> apply_recipient_effect(exc, member), final;
                        FAIL, OUTCOME_UNKNOWN -> final (never resent)
"""

import enum
from functools import lru_cache

from django.conf import settings

from groupflier.backends import backend_class


class ErrorEffect(enum.StrEnum):
    """What a failed send means beyond "this part did not go out"."""

    RETRY = "retry"  # may pass (HTTP 503, no connection, provider hiccup): retry with backoff
    FAIL = "fail"  # final for this part, nothing else to do (e.g. text refused)
    OUTCOME_UNKNOWN = "outcome_unknown"  # sent, then no answer: the provider may have it
    PAUSE_GATEWAY = "pause_gateway"  # the account cannot send (credentials, credit)
    RECIPIENT_OPTED_OUT_LOCALLY = "recipient_opted_out_locally"  # on our sender's opt-out list
    RECIPIENT_OPTED_OUT_GLOBALLY = "recipient_opted_out_globally"  # opted out: block as STOP
    BAD_NUMBER = "bad_number"  # the provider refuses the number as malformed


_TRANSIENT_EFFECTS = {ErrorEffect.RETRY, ErrorEffect.PAUSE_GATEWAY}


class GatewayError(Exception):
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
    ):
        if permanent is None and effect is None:
            raise TypeError("GatewayError needs permanent= or effect=")
        if effect is None:
            effect = ErrorEffect.FAIL if permanent else ErrorEffect.RETRY
        if permanent is None:
            permanent = effect not in _TRANSIENT_EFFECTS
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code
        self.effect = effect

    def __repr__(self):
        return f"GatewayError({self.reason!r}, code={self.code!r}, effect={self.effect.value})"


class BaseGateway:
    """Sends texts to numbers. Subclasses implement ``send_part``, and ``split`` when the
    provider limits a message's length or characters.

    ``sender_name`` is who a group message is from ("Mom"); each gateway shows it its own way
    (a subject field, or a ``"Mom: "`` prefix), so callers pass the bare text and the name.
    """

    # What members are told to type before a command word (SPEC §3): a gateway whose
    # character set lacks `*` sets "#" (messaging.command_mark).
    command_mark = "*"

    def __init__(self, **options):
        self.options = options

    @property
    def name(self) -> str:
        """The key of this gateway's ``GatewayState`` row: its module's name."""
        return type(self).__module__.rsplit(".", 1)[-1]

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


@lru_cache(maxsize=4)
def _load(path: str, options_items: tuple) -> BaseGateway:
    return backend_class("GROUPFLIER_SMS_GATEWAY", path, BaseGateway)(**dict(options_items))


def get_gateway() -> BaseGateway:
    """The configured gateway, one instance per process (so it can keep connections alive)."""
    options = tuple(sorted(settings.GROUPFLIER_SMS_GATEWAY_OPTIONS.items()))
    return _load(settings.GROUPFLIER_SMS_GATEWAY, options)
