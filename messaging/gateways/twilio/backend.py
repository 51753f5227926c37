"""Twilio Programmable Messaging, through the official ``twilio`` library (SPEC §8).

Each part goes to the Messages API ``From`` the member's own group number (the pool numbers
are the account's Twilio numbers; a system text with no group number goes from the first
active one) with a ``StatusCallback`` to ``GROUPFLIER_PUBLIC_URL`` + ``/webhooks/twilio/status``,
which turns Twilio's ``delivered`` / ``undelivered`` / ``failed`` into the part's receipt.
The answer's Message SID is the part's provider reference.

Every request first takes a place in its number's budget (``TWILIO_RATE_PER_NUMBER``, Twilio's
1 part a second for a long code) and the account's (``TWILIO_RATE_PER_ACCOUNT``), shared by every
worker through Redis (``ratelimit``). Texts are split into parts of one segment each
(``text``), so a request is a segment, as Twilio counts them.

The library's HTTP client is replaced by ``Transport``: one urllib3 pool of kept-alive
connections per process (http.client underneath, so a send costs little CPU), the API's
address from ``TWILIO_API_BASE`` (the simulator's for local work), no retry of its own (the
pipeline retries), and errors that say whether the request can have reached Twilio.

Twilio's answers and what follows (``ErrorEffect``): 21610 (the recipient texted STOP) blocks
the number like a STOP; 21211 / 21614 (not a valid / not a mobile number) are final and flag
it; HTTP 429, 20429, 5xx and no connection are retried; 20003 (authentication) pauses the
gateway until a balance check succeeds; a request sent and never answered is ``unknown``.
"""

import base64
import logging
import os
import threading
from urllib.parse import urlencode, urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from groupflier.backends import provider_setting
from messaging.gateways.base import BaseGateway, ErrorEffect, GatewayError, default_sender
from messaging.gateways.ratelimit import LimiterError, NumberRates
from messaging.gateways.state import pause_gateway
from messaging.gateways.twilio import text as rules

logger = logging.getLogger("groupflier.sms.twilio")

TWILIO_API = "https://api.twilio.com"
STATUS_PATH = "/webhooks/twilio/status"

# The provider's settings (``provider_setting``: Django's settings, else the environment).
DEFAULTS = {
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_API_BASE": TWILIO_API,
    "TWILIO_RATE_PER_NUMBER": "1/second",  # a US long code
    "TWILIO_RATE_PER_ACCOUNT": "off",
    "TWILIO_TIMEOUT": "30",  # seconds, per network step
    "TWILIO_MAX_WAIT": "300",  # seconds for a rate place, then the part is retried later
}

REFUSALS = (TwilioRestException, TwilioServiceException)
ERRORS = {
    20003: (
        ErrorEffect.PAUSE_GATEWAY,
        "authentication failed (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)",
    ),
    20429: (ErrorEffect.RETRY, "too many requests"),
    21211: (ErrorEffect.BAD_NUMBER, "not a valid phone number"),
    21610: (ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY, "the recipient texted STOP to this account"),
    21614: (ErrorEffect.BAD_NUMBER, "not a mobile number"),
}


def setting(name: str) -> str:
    return str(provider_setting(name, DEFAULTS[name]))


class Transport(HttpClient):
    """The twilio library's HTTP client on a urllib3 pool (see the module's docstring)."""

    def __init__(self, api_base: str, *, timeout: float):
        super().__init__(logger, False, timeout)
        self.api_base = api_base.rstrip("/")
        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=4,  # per host: a worker process sends one part at a time
            retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )

    def request(
        self,
        method,
        url,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ) -> Response:
        if url.startswith(TWILIO_API):
            url = self.api_base + url[len(TWILIO_API) :]
        if params:
            url += "?" + urlencode(params, doseq=True)
        headers = dict(headers or {})
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        answer = self.pool.request(
            method,
            url,
            body=urlencode(data, doseq=True) if data else None,
            headers=headers,
            redirect=allow_redirects,
            timeout=timeout or self.timeout,
        )
        return Response(answer.status, answer.data.decode("utf-8", "replace"), answer.headers)


class TwilioGateway(BaseGateway):
    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        api_base: str | None = None,
        rate_per_number: str | None = None,
        rate_per_account: str | None = None,
        timeout: float | None = None,
        max_wait: float | None = None,
        public_url: str | None = None,
        **options,
    ):
        super().__init__(**options)
        self.account_sid = account_sid or setting("TWILIO_ACCOUNT_SID")
        self.auth_token = auth_token or setting("TWILIO_AUTH_TOKEN")
        self.api_base = api_base or setting("TWILIO_API_BASE")
        try:
            self.timeout = float(timeout or setting("TWILIO_TIMEOUT"))
            self.max_wait = float(max_wait or setting("TWILIO_MAX_WAIT"))
            # Parsed once: a rate is looked at for every part sent.
            self.rates = NumberRates(
                f"twilio:{self.account_sid}",
                per_number=rate_per_number or setting("TWILIO_RATE_PER_NUMBER"),
                per_account=rate_per_account or setting("TWILIO_RATE_PER_ACCOUNT"),
                account_key=f"account:{self.account_sid}",
                max_wait=self.max_wait,
                timeout=self.timeout,
            )
        except ValueError as exc:
            raise ImproperlyConfigured(f"Twilio's settings: {exc}") from None
        if not (self.account_sid and self.auth_token):
            raise ImproperlyConfigured(
                "The Twilio gateway needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            )
        if urlsplit(self.api_base).scheme not in ("http", "https"):
            raise ImproperlyConfigured(f"TWILIO_API_BASE {self.api_base!r} is not a URL")
        public = public_url if public_url is not None else settings.GROUPFLIER_PUBLIC_URL
        self.status_callback = public.rstrip("/") + STATUS_PATH if public else None
        self._client: Client | None = None
        self._client_pid = 0
        self._lock = threading.Lock()

    # --- texts --------------------------------------------------------------------------

    def split(self, text: str, sender_name: str = "") -> list[str]:
        """Parts of one segment each, the sender's name leading the first; ``send_part``
        sends each as it is."""
        return rules.split(f"{sender_name}: {text}" if sender_name else text)

    def send_part(self, to: str, part: str, *, from_number: str = "", sender_name: str = "") -> str:
        """Send one part (from ``split``) ``From`` ``from_number``; the Message SID. Its
        status callback brings the part's receipt."""
        return self._create(to, part, from_number, self.status_callback)

    def send(self, to: str, text: str, *, from_number: str = "", sender_name: str = "") -> str:
        """A system text (PIN, welcome, reply): sent like a part, but with no status callback,
        since no delivery row waits for its receipt."""
        return ",".join(
            self._create(to, part, from_number, None) for part in self.split(text, sender_name)
        )

    def _create(self, to: str, part: str, from_number: str, callback: str | None) -> str:
        sender = from_number or default_sender()
        try:
            with self.rates.slot(sender):
                message = self.client.messages.create(
                    to=to, from_=sender, body=part, status_callback=callback
                )
        except LimiterError as exc:
            raise GatewayError(str(exc), code="rate_limiter", effect=ErrorEffect.RETRY) from None
        except REFUSALS as exc:
            raise self._refused(exc) from None
        except urllib3.exceptions.HTTPError as exc:
            raise _transport_error(exc) from None
        except TwilioException as exc:  # an answer the library could not read
            raise GatewayError(
                f"Twilio's answer could not be read: {exc}",
                code="bad_answer",
                effect=ErrorEffect.OUTCOME_UNKNOWN,
            ) from None
        return message.sid

    def _refused(self, exc: TwilioRestException | TwilioServiceException) -> GatewayError:
        """An error answer as a ``GatewayError``; 20003 also pauses the gateway."""
        status = int(exc.status)
        # The library gives the HTTP status as the code when the answer names none.
        code = int(exc.code) if str(exc.code).isdigit() and int(exc.code) != status else None
        effect, meaning = ERRORS.get(
            code, (None, getattr(exc, "msg", "") or getattr(exc, "title", ""))
        )
        if effect is None:
            if status == 429 or status >= 500:
                effect = ErrorEffect.RETRY
            elif status == 401:
                effect = ErrorEffect.PAUSE_GATEWAY
            else:
                effect = ErrorEffect.FAIL
        token = str(code) if code else f"http_{status}"
        reason = f"Twilio answered HTTP {status}, {token}: {meaning}"
        if effect is ErrorEffect.PAUSE_GATEWAY:
            pause_gateway(self, reason)
        return GatewayError(reason, code=token, effect=effect)

    # --- account ------------------------------------------------------------------------

    def check_credits(self) -> int:
        """The account's balance in cents. It also shows that the credentials work, so a
        gateway paused by 20003 resumes (``gateway_tasks``)."""
        try:
            balance = self.client.api.account.balance.fetch()
        except REFUSALS as exc:
            raise self._refused(exc) from None
        except (urllib3.exceptions.HTTPError, TwilioException) as exc:
            raise GatewayError(
                f"Twilio's balance: {exc}", code="balance", effect=ErrorEffect.RETRY
            ) from None
        return round(float(balance.balance or 0) * 100)

    # --- transport ----------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """This process's client: created on first use, and again in a forked child, which
        must not share its parent's connections."""
        if self._client_pid != os.getpid():
            with self._lock:
                if self._client_pid != os.getpid():
                    self._client = Client(
                        self.account_sid,
                        self.auth_token,
                        http_client=Transport(self.api_base, timeout=self.timeout),
                    )
                    self._client_pid = os.getpid()
        return self._client


def _transport_error(exc: urllib3.exceptions.HTTPError) -> GatewayError:
    """No connection (nothing sent): retried. Sent, then no answer: the outcome is unknown."""
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError | urllib3.exceptions.SSLError):
        return GatewayError(
            f"cannot connect to Twilio: {exc}", code="connect_error", effect=ErrorEffect.RETRY
        )
    return GatewayError(
        f"no answer from Twilio: {type(exc).__name__}",
        code="no_response",
        effect=ErrorEffect.OUTCOME_UNKNOWN,
    )
