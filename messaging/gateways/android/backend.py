"""An Android phone as the gateway, through the "SMS Gateway for Android" app's third-party
API (SPEC §8): the phone's own server (local mode, ``http://PHONE:8080``) or the cloud relay
or a private server (``https://api.sms-gate.app/3rdparty/v1``), at ``ANDROID_GATEWAY_URL``,
with HTTP basic auth (``ANDROID_GATEWAY_USER``, ``ANDROID_GATEWAY_PASSWORD``).

Each part is one ``POST /message`` (``/messages`` where only that path exists) to one
recipient: ``{"id", "textMessage": {"text"}, "phoneNumbers": [to], "withDeliveryReport":
true}``, plus ``deviceId`` and ``simNumber`` of the phone and SIM that send for the member's
group number (``ANDROID_GATEWAY_SENDERS``; with one phone and one number, none). The phone
joins a long text itself (multipart SMS), so a text is one part: the rates count texts per
recipient, as the app counts them.

``id`` is ours, derived from the pipeline's row (``rows.handing_over``), the recipient and
the text: the app keeps ids and answers 409 to a second message with one it has, without
sending it again. So a request whose answer never came (the phone went quiet mid-request) is
simply sent again later, and a 409 means the phone has the part: it counts as handed over. The
receipts (``sms:delivered``, ``sms:failed``) name the part by that id.

A phone that stops answering (no connection, no answer within ``ANDROID_GATEWAY_TIMEOUT``, or
the cloud's 503: the phone does not take its queue) pauses its own number
(``state.pause_number``, an alert in the admin): that number's parts wait, queued, and the
other numbers keep sending. Every ``ANDROID_GATEWAY_PAUSED_RETRY`` seconds one waiting part
tries the number again; the first that goes through resumes it, and what waited goes out.

A 400 naming the device (no such phone on the account, or another phone's id) pauses the
number the same way, until ANDROID_GATEWAY_SENDERS is put right. Other answers: 401 / 403
(credentials) pause the whole gateway until an admin resumes it; 429, 500, 502 and 504 are
retried; another 400 is final (a refused phone number flags it).

Every request first takes a place in its number's budget (``ANDROID_GATEWAY_RATE_PER_NUMBER``)
and the account's (``ANDROID_GATEWAY_RATE_PER_ACCOUNT``), shared by every worker through Redis
(``ratelimit``). The app's own Python client (``android-sms-gateway``) is not used: its HTTP
layer (requests or httpx) would be a second one beside urllib3, it tells a connection never
made from an answer never read no better, and it has no word for the 409 above.
"""

import base64
import json
import logging
import math
import os
import threading
import uuid
from urllib.parse import urlsplit

import urllib3
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

from groupflier.backends import provider_setting
from groupflier.pipeline.rows import handing_over
from messaging.gateways.base import BaseGateway, ErrorEffect, GatewayError, default_sender
from messaging.gateways.ratelimit import LimiterError, NumberRates
from messaging.gateways.state import (
    is_number_paused,
    pause_gateway,
    pause_number,
    resume_number,
    take_probe,
)

logger = logging.getLogger("groupflier.sms.android")

CLOUD_API = "https://api.sms-gate.app/3rdparty/v1"
# The app's paths for a message: ``/message`` on every version of the phone's server and the
# cloud's; ``/messages`` on the newer ones, where ``/message`` may be gone.
MESSAGE_PATHS = ("/message", "/messages")

# The provider's settings (``provider_setting``: Django's settings, else the environment).
DEFAULTS = {
    "ANDROID_GATEWAY_URL": CLOUD_API,
    "ANDROID_GATEWAY_USER": "",
    "ANDROID_GATEWAY_PASSWORD": "",
    "ANDROID_GATEWAY_WEBHOOK_KEY": "",
    "ANDROID_GATEWAY_SENDERS": "",
    "ANDROID_GATEWAY_RATE_PER_NUMBER": "1/second",
    "ANDROID_GATEWAY_RATE_PER_ACCOUNT": "off",
    "ANDROID_GATEWAY_TIMEOUT": "10",  # seconds, per network step
    "ANDROID_GATEWAY_MAX_WAIT": "300",  # seconds for a rate place, then the part is retried
    "ANDROID_GATEWAY_PAUSED_RETRY": "15",  # seconds between tries of a paused number
}


def setting(name: str) -> str:
    return str(provider_setting(name, DEFAULTS[name]))


def parse_senders(raw) -> dict[str, dict]:
    """``ANDROID_GATEWAY_SENDERS`` (JSON, or a dict in Django's settings): each pool number
    -> ``{"device_id": str, "sim": int or None}``."""
    if not raw:
        return {}
    try:
        senders = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise ImproperlyConfigured(f"ANDROID_GATEWAY_SENDERS is not JSON: {exc}") from None
    if not isinstance(senders, dict):
        raise ImproperlyConfigured("ANDROID_GATEWAY_SENDERS must be a JSON object")
    parsed = {}
    for number, phone in senders.items():
        if not isinstance(phone, dict) or not isinstance(phone.get("device_id", ""), str):
            raise ImproperlyConfigured(
                f'ANDROID_GATEWAY_SENDERS[{number!r}] must be like {{"device_id": "...", "sim": 1}}'
            )
        sim = phone.get("sim")
        if sim is not None and (not isinstance(sim, int) or not 1 <= sim <= 3):
            raise ImproperlyConfigured(f"ANDROID_GATEWAY_SENDERS[{number!r}]: sim is 1, 2 or 3")
        parsed[number.strip()] = {"device_id": phone.get("device_id") or "", "sim": sim}
    return parsed


class AndroidGateway(BaseGateway):
    def __init__(
        self,
        *,
        url: str | None = None,
        user: str | None = None,
        password: str | None = None,
        senders: dict | str | None = None,
        rate_per_number: str | None = None,
        rate_per_account: str | None = None,
        timeout: float | None = None,
        max_wait: float | None = None,
        paused_retry: float | None = None,
        **options,
    ):
        super().__init__(**options)
        self.url = (url or setting("ANDROID_GATEWAY_URL")).rstrip("/")
        self.user = user or setting("ANDROID_GATEWAY_USER")
        self.password = password or setting("ANDROID_GATEWAY_PASSWORD")
        self.senders = parse_senders(
            senders if senders is not None else provider_setting("ANDROID_GATEWAY_SENDERS", "")
        )
        try:
            self.timeout = float(timeout or setting("ANDROID_GATEWAY_TIMEOUT"))
            self.max_wait = float(max_wait or setting("ANDROID_GATEWAY_MAX_WAIT"))
            self.paused_retry = float(paused_retry or setting("ANDROID_GATEWAY_PAUSED_RETRY"))
            self.rates = NumberRates(
                f"android:{self.user}@{urlsplit(self.url).netloc}",
                per_number=rate_per_number or setting("ANDROID_GATEWAY_RATE_PER_NUMBER"),
                per_account=rate_per_account or setting("ANDROID_GATEWAY_RATE_PER_ACCOUNT"),
                max_wait=self.max_wait,
                timeout=self.timeout,
            )
        except ValueError as exc:
            raise ImproperlyConfigured(f"The Android gateway's settings: {exc}") from None
        if not (self.user and self.password):
            raise ImproperlyConfigured(
                "The Android gateway needs ANDROID_GATEWAY_USER and ANDROID_GATEWAY_PASSWORD "
                "(the app's Home tab shows them)"
            )
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ImproperlyConfigured(f"ANDROID_GATEWAY_URL {self.url!r} is not a URL")
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        self.headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "User-Agent": "GroupFlier",
        }
        self.message_path = MESSAGE_PATHS[0]
        self._pool: urllib3.PoolManager | None = None
        self._pool_pid = 0
        self._lock = threading.Lock()

    # --- texts --------------------------------------------------------------------------

    def split(self, text: str, sender_name: str = "") -> list[str]:
        """One part, the sender's name leading it: the phone splits a long text into the
        parts of one multipart SMS itself."""
        return [f"{sender_name}: {text}" if sender_name else text]

    def send_part(self, to: str, part: str, *, from_number: str = "", sender_name: str = "") -> str:
        """Send one part from the phone and SIM of ``from_number``; the app's message id
        (ours). Its receipt comes by webhook."""
        return self._send(to, part, from_number, handing_over())

    def send(self, to: str, text: str, *, from_number: str = "", sender_name: str = "") -> str:
        key = handing_over()
        return ",".join(
            self._send(to, part, from_number, key and f"{key}.{index}")
            for index, part in enumerate(self.split(text, sender_name))
        )

    def message_id(self, key: str | None, to: str, text: str) -> str:
        """Ours for the app, at most the 36 characters it takes: the same for the same part
        every time it is handed over, so the app sends it once. Keyed with this service's
        secret, so another service on the same cloud account never makes the same."""
        if not key:
            return "gf" + uuid.uuid4().hex  # no row behind it: nothing to send twice
        value = f"{key}|{to}|{text}"
        digest = salted_hmac("groupflier.android.message-id", value, algorithm="sha256")
        return "gf" + digest.hexdigest()[:32]

    def phone_for(self, number: str) -> dict | None:
        """The phone and SIM that send for ``number``; None with no ANDROID_GATEWAY_SENDERS
        (one phone: it sends everything from its default SIM)."""
        if not self.senders:
            return None
        phone = self.senders.get(number)
        if phone is None:
            reason = f"ANDROID_GATEWAY_SENDERS names no phone for {number}"
            pause_number(self, number, reason)
            raise GatewayError(
                reason, code="no_phone", effect=ErrorEffect.PAUSE_NUMBER, retry_after=60
            )
        return phone

    def _send(self, to: str, text: str, from_number: str, key: str | None) -> str:
        sender = from_number or default_sender()
        phone = self.phone_for(sender)
        probing = self._wait_while_paused(sender)
        message_id = self.message_id(key, to, text)
        body = {
            "id": message_id,
            "textMessage": {"text": text},
            "phoneNumbers": [to],
            "withDeliveryReport": True,
        }
        if phone and phone["device_id"]:
            body["deviceId"] = phone["device_id"]
        if phone and phone["sim"]:
            body["simNumber"] = phone["sim"]
        try:
            with self.rates.slot(sender):
                status, answer = self._post(body)
        except LimiterError as exc:
            raise GatewayError(str(exc), code="rate_limiter", effect=ErrorEffect.RETRY) from None
        except urllib3.exceptions.HTTPError as exc:
            raise self._phone_away(sender, f"no answer from the phone: {_cause(exc)}") from None
        error = None if status in (200, 201, 202, 409) else self._refused(sender, status, answer)
        if probing and (error is None or error.effect is not ErrorEffect.PAUSE_NUMBER):
            resume_number(self, sender, by="the phone answered again")
        if error is not None:
            raise error
        if status == 409:
            return message_id  # the phone has it from an earlier hand-off: not sent again
        return str(answer.get("id") or message_id)

    def _wait_while_paused(self, sender: str) -> bool:
        """Raise ``PAUSE_NUMBER`` while ``sender`` is paused, but once every
        ANDROID_GATEWAY_PAUSED_RETRY seconds, when this part tries it (True)."""
        if not is_number_paused(self, sender):
            return False
        wait = take_probe(self, sender, self.paused_retry)
        if wait:
            raise GatewayError(
                f"the phone for {sender} is paused; it is tried again within {wait:.0f} s",
                code="number_paused",
                effect=ErrorEffect.PAUSE_NUMBER,
                retry_after=math.ceil(wait),
            )
        return True

    def _phone_away(self, sender: str, reason: str) -> GatewayError:
        pause_number(self, sender, reason)
        return GatewayError(
            reason,
            code="phone_away",
            effect=ErrorEffect.PAUSE_NUMBER,
            retry_after=math.ceil(self.paused_retry),
        )

    def _refused(self, sender: str, status: int, answer: dict) -> GatewayError:
        said = str(answer.get("message") or answer.get("error") or "")[:150]
        reason = f"the Android gateway answered HTTP {status}" + (f": {said}" if said else "")
        token = f"http_{status}"
        if status == 503:  # the cloud: the phone does not take its queue (offline)
            return self._phone_away(sender, reason)
        if status == 400 and "device" in said.lower():
            # No such phone on the account, or not this one (ANDROID_GATEWAY_SENDERS): its
            # number waits for the setting to be put right rather than failing every text.
            return self._phone_away(sender, reason)
        if status in (401, 403):
            pause_gateway(self, f"{reason} (ANDROID_GATEWAY_USER, ANDROID_GATEWAY_PASSWORD)")
            return GatewayError(reason, code=token, effect=ErrorEffect.PAUSE_GATEWAY)
        if status == 429 or status >= 500:
            return GatewayError(reason, code=token, effect=ErrorEffect.RETRY)
        if status == 400 and "phone" in said.lower():
            return GatewayError(reason, code=token, effect=ErrorEffect.BAD_NUMBER)
        return GatewayError(reason, code=token, effect=ErrorEffect.FAIL)

    # --- transport ----------------------------------------------------------------------

    def _post(self, body: dict) -> tuple[int, dict]:
        """POST a message; (HTTP status, the JSON answer or {}). A path the server does not
        have (404 / 405 before anything is taken) is tried under the other name."""
        data = json.dumps(body).encode()
        for _ in MESSAGE_PATHS:
            answer = self.pool.request(
                "POST", self.url + self.message_path, body=data, headers=self.headers
            )
            if answer.status not in (404, 405):
                break
            self.message_path = next(p for p in MESSAGE_PATHS if p != self.message_path)
        try:
            parsed = json.loads(answer.data or b"{}")
        except ValueError:
            parsed = {"message": answer.data[:150].decode("utf-8", "replace")}
        return answer.status, parsed if isinstance(parsed, dict) else {}

    @property
    def pool(self) -> urllib3.PoolManager:
        """This process's connections: made on first use, and again in a forked child, which
        must not share its parent's. No retries of its own: the pipeline retries."""
        if self._pool_pid != os.getpid():
            with self._lock:
                if self._pool_pid != os.getpid():
                    self._pool = urllib3.PoolManager(
                        num_pools=2,
                        maxsize=4,
                        retries=False,
                        timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                    )
                    self._pool_pid = os.getpid()
        return self._pool

    def close(self) -> None:
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.clear()
        self._pool = None
        self._pool_pid = 0


def _cause(exc: Exception) -> str:
    """A urllib3 error in a few words, without its pool's repr."""
    reason = getattr(exc, "reason", None) or exc
    return f"{type(reason).__name__}: {str(reason).split(': ')[-1]}"[:120]
