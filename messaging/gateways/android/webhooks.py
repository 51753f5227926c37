"""The Android app's webhooks, one address for every event: ``/webhooks/android/`` (SPEC §4, §8).

The app posts ``{"deviceId", "event", "id", "payload": {...}, "webhookId"}`` to each URL
registered for the event (``POST /webhooks`` on the app's API, one registration per event):

- ``sms:received``: a member's text (``sender``, or ``phoneNumber`` before the app's 2026
  payloads, ``message``, ``recipient``: the phone's own number when it knows it,
  ``simNumber``, ``receivedAt``). It is routed by (sender, number texted) through
  ``messaging.inbound.receive_and_text_back``; the number texted is ``recipient`` when it is
  one of ours, else the one ``ANDROID_GATEWAY_SENDERS`` gives that phone and SIM. The app
  filters nothing: STOP, START and HELP are ours alone, handled there like every text, and a
  reply goes back as a system text from the number texted.
- ``sms:delivered`` / ``sms:failed`` (with ``reason``): the receipt of the part the app knows
  by ``messageId``, the id the backend gave it (``messaging.receipts``). ``sms:sent`` needs
  nothing: the part is ``sent`` from the moment the phone took it.

Each request must carry ``X-Signature``: the hex HMAC-SHA256, keyed with
``ANDROID_GATEWAY_WEBHOOK_KEY`` (the app's Settings > Webhooks > Signing Key), of the raw body
followed by the ``X-Timestamp`` header, Unix seconds within five minutes of our clock; else 403.

Once only: the app sends an event again under the same ``id`` until it has a 2xx (for about two
days), so an ``id`` is taken once. The same event through a second registration (a second URL,
or the phone's local and cloud registrations both) comes under another ``id``: a receipt is
idempotent by itself, and a text is known by its content and time, since the app's
``messageId`` of a received text is made from its content and is not unique.
"""

import hashlib
import hmac
import json
import time

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from groupflier import phones
from groupflier.api.errors import ApiError
from groupflier.backends import provider_setting
from groups.models import PoolNumber
from messaging.gateways.android.backend import AndroidGateway, parse_senders, setting
from messaging.gateways.base import get_gateway
from messaging.inbound import Inbound, receive_and_text_back
from messaging.receipts import record_receipt

REPLAY_WINDOW_SECONDS = 5 * 60
# The app retries an event for about two days: an id or a text is remembered a little longer.
SEEN_SECONDS = 3 * 24 * 3600
RECEIPTS = {"sms:delivered": "delivered", "sms:failed": "failed"}


def signed_by_the_app(request) -> bool:
    """Whether ``X-Signature`` signs the raw body and ``X-Timestamp`` with our key, and the
    timestamp is recent (a recorded request replayed later is refused)."""
    key = setting("ANDROID_GATEWAY_WEBHOOK_KEY")
    signature = request.headers.get("X-Signature", "").strip().lower()
    timestamp = request.headers.get("X-Timestamp", "").strip()
    if not (key and signature and timestamp.isdigit()):
        return False
    if abs(time.time() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return False
    expected = hmac.new(key.encode(), request.body + timestamp.encode(), hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), signature)


def answer(text: str = "", status: int = 200) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")


@csrf_exempt
@require_POST
def events(request):
    if not signed_by_the_app(request):
        return answer("Forbidden: no valid X-Signature for a recent X-Timestamp", 403)
    try:
        event = json.loads(request.body)
        name, payload = event["event"], event["payload"]
        if not (isinstance(name, str) and isinstance(payload, dict)):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return answer("Not a webhook event", 400)
    seen = f"android:event:{event['id']}" if event.get("id") else None
    if seen and not cache.add(seen, 1, SEEN_SECONDS):
        return answer()  # taken already: the app sent it again
    try:
        if name == "sms:received":
            received(payload, str(event.get("deviceId") or ""))
        elif name in RECEIPTS and payload.get("messageId"):
            reason = str(payload.get("reason") or "") if name == "sms:failed" else ""
            record_receipt(str(payload["messageId"]), RECEIPTS[name], reason)
    except BaseException:
        if seen:
            cache.delete(seen)  # not taken: the app's next try must be
        raise
    return answer()


def received(payload: dict, device_id: str) -> None:
    sender = str(payload.get("sender") or payload.get("phoneNumber") or "")
    text = str(payload.get("message") or "")
    if not sender or not text.strip():
        return
    # The same text through another registration: same sender, text and time of receipt.
    # (Without a time, ``receive`` still takes the same text once within its window.)
    seen = None
    if payload.get("receivedAt"):
        content = f"{sender}|{text}|{payload['receivedAt']}"
        seen = f"android:received:{hashlib.sha256(content.encode()).hexdigest()}"
        if not cache.add(seen, 1, SEEN_SECONDS):
            return
    try:
        inbound = Inbound(
            sender=sender, to_number=number_texted(payload, device_id), text=text, gateway="android"
        )
        receive_and_text_back(inbound)
    except BaseException:
        if seen:
            cache.delete(seen)
        raise


def number_texted(payload: dict, device_id: str) -> str:
    """Our number the text was sent to: the phone's ``recipient`` when it is one of ours,
    else the one ANDROID_GATEWAY_SENDERS gives that phone and SIM; "" when neither says
    (``receive`` then takes the member's most recent group)."""
    recipient = str(payload.get("recipient") or "")
    if recipient:
        try:
            number = phones.normalize(recipient)
        except ApiError:
            number = ""
        if number and PoolNumber.objects.filter(number=number).exists():
            return number
    senders = configured_senders()
    on_phone = [n for n, phone in senders.items() if device_id and phone["device_id"] == device_id]
    on_sim = [n for n in on_phone if senders[n]["sim"] == payload.get("simNumber")]
    if len(on_sim) == 1:
        return on_sim[0]
    return on_phone[0] if len(on_phone) == 1 else ""


def configured_senders() -> dict[str, dict]:
    try:
        gateway = get_gateway()
    except ImproperlyConfigured:
        gateway = None
    if isinstance(gateway, AndroidGateway):
        return gateway.senders
    try:  # another gateway is configured now: late events of this one still find their way
        return parse_senders(provider_setting("ANDROID_GATEWAY_SENDERS", ""))
    except ImproperlyConfigured:
        return {}


urlpatterns = [path("", events, name="android-events")]
